"""keyward's local stack (docs/local-stack.md): emulated AWS (moto) running the real state machine, with
the six functions served by `cargo lambda watch`, and an OpenID provider for the approvers' sign-in,
on 127.0.0.1 only.

- `paths`: where the stack keeps its state, and the names every part shares;
- `console`: what the stack's commands print, and their HTTP and waiting helpers;
- `template`: what the local stack reads from template.yaml, and the substituted state machine;
- `processes`: the records of the servers and how they are stopped;
- `oidc`: the local OpenID provider (tools/oidc-provider/server.mjs) and the sign-in defaults;
- `settings`: the configuration `up` reads from the environment;
- `stack` (`up`) and `running` (`down`, `status`): `scripts/local-stack`;
- `provision`: the stack's resources in moto;
- `emulator`: the AWS emulator itself (moto, the Lambda forward, the test hooks, the IAM throttle);
- `client`: driving the running stack from outside (demo, end-to-end tests, bench);
- `browser`: the confirm page as a browser uses it, signing in through the OpenID provider;
- `demo`, `bench`: `make demo`, `make bench`.
"""
