//! Running the functions on Apache DataFusion Ballista: the session
//! configuration that installs the plan codec, and a loopback cluster (a
//! scheduler and executors in this process) to try queries and test them.
//!
//! Feature `ballista`.

use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::codec::{LifecycleLogicalCodec, LifecyclePhysicalCodec};

/// A Ballista session configuration whose plans carry this crate's
/// functions ([`LifecycleLogicalCodec`], [`LifecyclePhysicalCodec`]). The
/// client, the scheduler and every executor need it (an executor process:
/// `ExecutorProcessConfig::override_logical_codec` and
/// `override_physical_codec`; see the README's "Scale out").
///
/// ```
/// use ballista_core::extension::SessionConfigExt;
/// let config = customer_lifecycle_datafusion::ballista_config();
/// assert!(format!("{:?}", config.ballista_physical_extension_codec()).contains("LifecyclePhysicalCodec"));
/// ```
pub fn ballista_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LifecycleLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(LifecyclePhysicalCodec::default()))
}

/// A client session on the Ballista scheduler at `scheduler_url`
/// (`df://host:port` or `http://host:port`), with [`ballista_config`].
/// The scheduler and executors must have the plan codec too.
///
/// # Errors
/// When the address is not a URL with a host.
///
/// ```no_run
/// # async fn run() -> datafusion::common::Result<()> {
/// let ctx = customer_lifecycle_datafusion::connect("df://scheduler.internal:50050").await?;
/// # let _ = ctx;
/// # Ok(())
/// # }
/// ```
pub async fn connect(scheduler_url: &str) -> Result<SessionContext> {
    SessionContext::remote_with_state(scheduler_url, state(ballista_config())).await
}

fn state(config: SessionConfig) -> SessionState {
    SessionStateBuilder::new().with_default_features().with_config(config).build()
}

fn ballista_error(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("ballista: {e}"))
}

/// A Ballista scheduler and executors running in this process on
/// loopback, each executor with a fresh session of its own: as on other
/// machines, an executor knows this crate's functions only from the plans
/// it receives. They stop with the Tokio runtime that started them.
///
/// ```
/// use customer_lifecycle_datafusion::LocalCluster;
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let cluster = LocalCluster::start(2, 1).await?;
/// let ctx = cluster.context().await?;
/// let rows = ctx.sql("SELECT 1").await?.collect().await?;
/// assert_eq!(rows[0].num_rows(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct LocalCluster {
    scheduler_url: String,
    executors: usize,
}

impl LocalCluster {
    /// Starts a scheduler and `executors` executors of `cores` task slots
    /// each, on ports the system chooses.
    ///
    /// # Errors
    /// When no executor is asked for, or when a server cannot start.
    pub async fn start(executors: usize, cores: usize) -> Result<LocalCluster> {
        if executors == 0 || cores == 0 {
            return Err(DataFusionError::Configuration(format!(
                "a cluster needs at least one executor with at least one task slot (asked: {executors} of {cores})"
            )));
        }
        let scheduler_state = state(ballista_config());
        let address = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&scheduler_state)
            .await
            .map_err(ballista_error)?;
        let scheduler_url = format!("http://localhost:{}", address.port());
        let mut attempts = 0;
        let scheduler = loop {
            match SchedulerGrpcClient::connect(scheduler_url.clone()).await {
                Ok(client) => break client,
                Err(e) if attempts >= 50 => return Err(ballista_error(e)),
                Err(_) => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        };
        for _ in 0..executors {
            let executor_state = state(ballista_config());
            ballista_executor::new_standalone_executor_from_state(scheduler.clone(), cores, &executor_state)
                .await
                .map_err(ballista_error)?;
        }
        Ok(LocalCluster { scheduler_url, executors })
    }

    /// The scheduler's address (`http://localhost:PORT`).
    ///
    /// ```no_run
    /// # async fn run() -> datafusion::common::Result<()> {
    /// let cluster = customer_lifecycle_datafusion::LocalCluster::start(1, 1).await?;
    /// assert!(cluster.scheduler_url().starts_with("http://localhost:"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn scheduler_url(&self) -> &str {
        &self.scheduler_url
    }

    /// The number of executors started.
    ///
    /// ```no_run
    /// # async fn run() -> datafusion::common::Result<()> {
    /// let cluster = customer_lifecycle_datafusion::LocalCluster::start(2, 1).await?;
    /// assert_eq!(cluster.executors(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn executors(&self) -> usize {
        self.executors
    }

    /// A client session on the cluster, with [`ballista_config`]: queries
    /// run on the executors. Register this crate's functions on it as on
    /// any `SessionContext`.
    ///
    /// # Errors
    /// When the scheduler cannot be reached.
    ///
    /// ```no_run
    /// # async fn run() -> datafusion::common::Result<()> {
    /// let cluster = customer_lifecycle_datafusion::LocalCluster::start(1, 1).await?;
    /// let ctx = cluster.context().await?;
    /// # let _ = ctx;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn context(&self) -> Result<SessionContext> {
        connect(&self.scheduler_url).await
    }
}
