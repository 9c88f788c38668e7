//! approval: the HTTP Lambda function (Lambda Function URL) that receives the approver's decision
//! (DESIGN §5). It shows the confirm page, accepts the page's form and Slack's buttons, and calls
//! SendTaskSuccess / SendTaskFailure. `handler` decides, `page` renders; the binary only wires.

pub mod handler;
pub mod page;
