//! Integrations that adapt other systems' volume protocols to dm: the Docker volume plugin and
//! the Kubernetes FlexVolume driver. Empty until those land; the daemon owns their lifecycle.
