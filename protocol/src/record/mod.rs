//! RecordBatch v2 (KIP-98): builder, lazy decoder, control records; legacy message sets v0/v1 (decode only); compression.
