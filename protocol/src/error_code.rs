//! Every Kafka error code, with its name and whether it is retriable.
