//! A hello-world Lambda function: the least a `lambda_runtime` binary can
//! do before it asks for its first event. `subsidy bench-init` measures each
//! function's init time next to this one's.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async { Ok::<Value, Error>(json!({"hello": "world"})) }))
        .await
}
