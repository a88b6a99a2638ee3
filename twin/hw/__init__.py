"""SimPy models of the hardware: HBM channels, ESL links, the host's PCIe, chips and replicas."""
