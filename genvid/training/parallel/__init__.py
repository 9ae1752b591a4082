"""Process layouts for the one loop: FSDP2 sharding and context parallelism."""
