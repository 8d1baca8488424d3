//! kafclaw-envelope: the wire format and its JSON Schemas. No IO, no Kafka client, no async runtime.
