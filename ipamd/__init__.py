"""vpc-ipamd, the per-node IPAM daemon: warm pools of cloud addresses served to the CNI plugin."""
