//! list-users: the first task of a run. Lists every IAM user, screens them (credential report, or
//! every user with `SCREENING=live`), and writes the candidates to S3 as the Distributed Map's
//! batches, plus a listing record for the run report. The binary wires it to the Lambda runtime.

pub mod handler;
