"""The Metrics service: reads stored runs back. It never writes."""
