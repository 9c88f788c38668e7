"""The local stack's AWS emulator: moto's server (IAM, S3, SNS, DynamoDB, Step Functions) on 127.0.0.1,
with these additions. Started and stopped by scripts/local-stack (docs/local-stack.md).

1. Lambda invoke goes to `cargo lambda watch` (`forward`). moto cannot run Rust functions, so its
   Lambda backend's invoke is replaced by an HTTP forward to cargo lambda's Invoke API
   (POST /2015-03-31/functions/<name>/invocations). Direct Invoke calls and the state machine's
   lambda:invoke / lambda:invoke.waitForTaskToken tasks both land there (moto's Step Functions engine
   calls Lambda through this same server). A function error comes back as a Lambda function error
   (X-Amz-Function-Error + {errorType, errorMessage}), so the ASL's Retry/Catch see the error name.
2. The test hook POST /_keyward/keys sets a key's creation and last-use on moto's own key object, so
   ListAccessKeys, GetAccessKeyLastUsed and the credential report agree (`hooks`).
3. IAM throttling: with --iam-throttle-rps N, IAM requests beyond N per second are answered like AWS
   does (HTTP 400, Query-protocol XML error `Throttling`) (`throttle`, `app`).
4. IAM calls are counted per operation: GET /_keyward/iam-calls (DELETE resets), and the throttled
   ones on GET /_keyward/iam-throttled; PUT /_keyward/iam-throttle {"rps": N|null} changes the rate.
5. Injected failures, for the fault tests: PUT /_keyward/faults {"target": "lambda:check-user" |
   "sns:Publish", "count": N or null (until cleared), "after": N (let N pass first), "match": "text"
   (only invocations whose payload holds it), "error": a function error name, "Lambda.ServiceException"
   (Lambda's own HTTP 500), or for SNS an error code such as "AuthorizationError" (HTTP 403)};
   GET lists them with how many were injected, DELETE clears them (`faults`).
6. Function URLs (`function_url`): a second server thread serves LAMBDA_PORT, where
   `/lambda-url/<function><path>` becomes the payload format 2.0 event AWS builds (the path as typed,
   lower-cased headers, cookies, base64 bodies that are not text) and the function's result the HTTP
   response AWS makes of it; anything else on the port (the Invoke API) goes to cargo lambda watch,
   which listens on LAMBDA_PORT+1. GET /_keyward/function-url-requests lists the last events.
7. IAM as strict as AWS (`iam_strict`): tag rules, paging, a read lag after UpdateAccessKey
   (--iam-read-lag-seconds) and a credential report that takes time (--credential-report-delay-seconds);
   GET/PUT /_keyward/iam-strict changes the two, DELETE /_keyward/credential-report forgets the report.
8. STS AssumeRole as strict as AWS (`sts_strict`): the role must exist and its trust policy allow the
   caller (principals, conditions, source identity), with the caller's identity policy where AWS
   requires it; a session keeps its source identity, and GET /_keyward/principals records it.
9. Organizations as AWS answers (`org_strict`): `State` without the retired `Status`, pages of at
   most 20, and PUT /_keyward/org-account-state to set an account's state.
Also GET /_keyward/sns-messages (every message published, e.g. the approval link) and
GET /_keyward/health (who is listening). All of /_keyward/ exists only in the local stack.

moto itself is patched at start-up, never on disk (`moto_patches`, `iam_strict`).

SNS confirms an e-mail subscription only with the token of its confirmation mail, as AWS does
(`sns_confirm`; moto confirms every subscription at once): until then it is `PendingConfirmation`,
and GET /_keyward/sns-confirmations lists each pending subscription with its token.

Nothing here logs a payload: state machine payloads carry task tokens.
"""
