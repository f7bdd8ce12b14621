module klamm.invalid/peers/goperf

go 1.22
