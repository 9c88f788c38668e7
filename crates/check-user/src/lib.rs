//! check-user: one item of the Distributed Map. Reads a batch of candidate users live from IAM
//! (MFA devices, login profile, keys, key last use, tags) and writes the batch's result to S3; the
//! Map collects only a small summary. The binary wires it to the Lambda runtime.

pub mod handler;
