//! A Ballista scheduler and executor whose plans carry the crate's
//! functions: the stock processes with the plan codec installed.

use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use customer_lifecycle_datafusion::{LifecycleLogicalCodec, LifecyclePhysicalCodec};

/// Runs a scheduler on `port` (all interfaces) until the process ends.
pub async fn scheduler(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let config = SchedulerConfig {
        bind_port: port,
        override_logical_codec: Some(Arc::new(LifecycleLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(LifecyclePhysicalCodec::default())),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await?;
    println!("scheduler listening on port {port}");
    start_server(cluster, format!("0.0.0.0:{port}").parse()?, Arc::new(config)).await?;
    Ok(())
}

/// Runs an executor on `port` (its Flight service; gRPC on `port + 1`)
/// for the scheduler at `scheduler` (`host:port`) until the process ends.
pub async fn executor(scheduler: &str, port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let (host, scheduler_port) = scheduler.rsplit_once(':').ok_or("the scheduler is host:port")?;
    let config = ExecutorProcessConfig {
        scheduler_host: host.to_string(),
        scheduler_port: scheduler_port.parse()?,
        port,
        grpc_port: port + 1,
        override_logical_codec: Some(Arc::new(LifecycleLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(LifecyclePhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    println!("executor on port {port} for the scheduler at {scheduler}");
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
