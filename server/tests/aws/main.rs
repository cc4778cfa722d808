//! AWS paths against real protocol peers: the SageMaker container contract and runtime API,
//! the SageMaker backend against moto and against a second churn-predict, the Lambda entry
//! under a Runtime API harness (malformed events too), the original Python Lambda with boto3,
//! and the deploy files (template, images, and the guide read as a script).
//! One test binary (declared modules) so it builds once.

mod compat;
mod deploy;
mod deploy_guide;
mod helpers;
mod lambda;
mod lambda_events;
mod original;
mod sagemaker;
mod transform;
