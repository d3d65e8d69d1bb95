"""The Redis adapter: the deployment stream, its consumer group and the dead-letter stream."""
