//! Runs SQL over a store with DataFusion.
//!
//! Tables are registered over the exact files the manifest holds (never a
//! directory listing, so a stray or half-written file is never read), and
//! only those whose time range and source can match the query: the
//! manifest's per-file min/max time prune before any file is opened. Inside
//! the files, DataFusion uses row-group statistics, the page index and bloom
//! filters, and pushes filters into the scan so that `raw` is decoded only
//! for rows that pass.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use mamori_store::{FileEntry, Location, Store};

use crate::compile::{PatternStage, ANOMALY_COLUMNS, DIFF_COLUMNS, PATTERN_COLUMNS, PATTERN_TABLE};
use crate::pattern::Miner;
use crate::precount::KeyCounter;
use crate::QueryError;

/// Rows per batch when counting by dictionary keys (DataFusion reads 8,192 otherwise).
const PRECOUNT_BATCH_ROWS: usize = 65_536;

/// How a query may use the machine.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Memory the query may hold (bytes); above it the query fails with a message.
    pub memory_limit: usize,
    /// Parallelism (default: the number of cores).
    pub threads: usize,
    /// Earliest event time, µs (prunes files).
    pub start: Option<i64>,
    /// Latest event time, exclusive, µs (prunes files).
    pub end: Option<i64>,
    /// Source kinds to register (empty: all).
    pub sources: Vec<String>,
    /// Read `raw` as `Utf8View`: no copy of each record out of its decompressed
    /// page, which takes about a fifth off a scan of the original records (BENCHMARKS.md), but
    /// every row held (sorted, limited, collected) keeps its whole page alive.
    /// Only for queries whose rows end in an aggregate
    /// ([`crate::Query::rows_end_in_stats`]).
    pub raw_as_view: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            memory_limit: 1 << 30,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            start: None,
            end: None,
            sources: Vec::new(),
            raw_as_view: false,
        }
    }
}

/// A result, whole.
pub struct QueryResult {
    /// Column names and types.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

/// A session over one store.
pub struct Engine {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
    budget_mb: usize,
    raw_as_view: bool,
    /// Where the store's files are, and the ones the tables were opened over.
    base: String,
    files: Vec<FileEntry>,
    /// The time range the engine was opened for (µs, end exclusive).
    range: (Option<i64>, Option<i64>),
    /// Files counted from the value counts in their footer, for `--stats`.
    footer_counted: std::sync::atomic::AtomicUsize,
}

fn engine_err(e: impl std::fmt::Display) -> QueryError {
    QueryError::Engine(e.to_string())
}

impl Engine {
    /// Registers the store's tables: `events` (every source) and one per
    /// source kind (`cloudtrail`, `k8s`, …).
    pub fn open(store: &Store, opts: &EngineOptions) -> Result<Engine, QueryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads.max(1))
            .enable_all()
            .build()
            .map_err(engine_err)?;
        // No spilling: the budget is a promise about the machine, disk included.
        let env = RuntimeEnvBuilder::new()
            .with_memory_limit(opts.memory_limit, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(engine_err)?;
        let mut config = SessionConfig::new()
            // Two partitions per thread: files differ in size (a partial newest day,
            // compacted and fresh segments), and finer pieces keep every thread busy
            // to the end (BENCHMARKS.md: 3-13 % on the query benchmark).
            .with_target_partitions(opts.threads.max(1) * 2)
            .with_information_schema(true);
        let o = config.options_mut();
        o.execution.collect_statistics = true;
        o.execution.parquet.pushdown_filters = true;
        o.execution.parquet.reorder_filters = true;
        o.execution.parquet.bloom_filter_on_read = true;
        o.execution.parquet.enable_page_index = true;
        // DataFusion 55 pushes a `sort a, b | limit n` threshold into the
        // Parquet row filter, and fails there ("PhysicalExpr Column references
        // column 'raw' at index 2 … only has 2 columns") when a sort key is a
        // function of `source` and `raw` (api.request_uid; commands.test).
        // Newest-first searches have their own windows (newest.rs).
        o.optimizer.enable_topk_dynamic_filter_pushdown = false;
        let mut ctx = SessionContext::new_with_config_rt(config, env);
        datafusion_functions_json::register_all(&mut ctx).map_err(engine_err)?;
        for udf in crate::udf::udfs() {
            ctx.register_udf(udf);
        }
        let base = match store.location() {
            Location::Local(dir) => {
                let dir = std::fs::canonicalize(dir)
                    .map_err(|e| QueryError::Store(mamori_store::StoreError::io(dir, e)))?;
                dir.to_string_lossy().trim_end_matches('/').to_owned()
            }
            Location::S3 { bucket, prefix } => {
                let client = mamori_source::s3_client(bucket, std::time::Duration::from_secs(30))
                    .map_err(|e| QueryError::Engine(e.to_string()))?;
                let url = url::Url::parse(&format!("s3://{bucket}")).map_err(engine_err)?;
                ctx.register_object_store(&url, Arc::new(client));
                if prefix.is_empty() {
                    format!("s3://{bucket}")
                } else {
                    format!("s3://{bucket}/{prefix}")
                }
            }
        };
        let wanted = |f: &&FileEntry| {
            f.source != "dead_letter"
                && (opts.sources.is_empty() || opts.sources.contains(&f.source))
                && opts.start.is_none_or(|s| f.max_time >= s)
                && opts.end.is_none_or(|e| f.min_time < e)
        };
        let files: Vec<FileEntry> = store.files().filter(wanted).cloned().collect();
        let engine = Engine {
            ctx,
            runtime,
            budget_mb: opts.memory_limit >> 20,
            raw_as_view: opts.raw_as_view,
            base,
            files,
            range: (opts.start, opts.end),
            footer_counted: Default::default(),
        };
        engine.narrow(None, None)?;
        Ok(engine)
    }

    /// Registers the tables over only the files that can hold events of
    /// `[start, end)` (µs). DataFusion splits a scan into even byte ranges of
    /// the files registered: over the whole store, the one day a newest-first
    /// window reads would fall to one thread.
    /// `(None, None)` registers every file the engine was opened over.
    pub fn narrow(&self, start: Option<i64>, end: Option<i64>) -> Result<(), QueryError> {
        let files: Vec<&FileEntry> = self
            .files
            .iter()
            .filter(|f| start.is_none_or(|s| f.max_time >= s) && end.is_none_or(|e| f.min_time < e))
            .collect();
        self.register_files(&files)
    }

    /// Registers the tables over `files` only.
    fn register_files(&self, files: &[&FileEntry]) -> Result<(), QueryError> {
        self.register("events", files)?;
        for kind in mamori_event::SourceKind::ALL {
            let of_kind: Vec<&FileEntry> = files
                .iter()
                .copied()
                .filter(|f| f.source == kind.as_str())
                .collect();
            self.register(kind.as_str(), &of_kind)?;
        }
        Ok(())
    }

    fn register(&self, name: &str, files: &[&FileEntry]) -> Result<(), QueryError> {
        let base = &self.base;
        let schema = table_schema(self.raw_as_view);
        self.ctx.deregister_table(name).map_err(engine_err)?;
        if files.is_empty() {
            let empty = MemTable::try_new(schema, vec![vec![]]).map_err(engine_err)?;
            self.ctx
                .register_table(name, Arc::new(empty))
                .map_err(engine_err)?;
            return Ok(());
        }
        let urls = files
            .iter()
            .map(|f| ListingTableUrl::parse(format!("{base}/{}", f.path)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(engine_err)?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        let table = ListingTable::try_new(config).map_err(engine_err)?;
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(engine_err)?;
        Ok(())
    }

    fn classify(&self, e: datafusion::error::DataFusionError) -> QueryError {
        let text = e.to_string();
        if text.contains("Resources exhausted") {
            QueryError::Memory {
                budget_mb: self.budget_mb,
                detail: text,
            }
        } else {
            QueryError::Engine(text)
        }
    }

    /// Runs `sql`, handing each batch of rows to `each` as it comes; Ctrl-C cancels.
    pub fn stream(
        &self,
        sql: &str,
        mut each: impl FnMut(&RecordBatch) -> Result<(), QueryError>,
    ) -> Result<SchemaRef, QueryError> {
        self.runtime.block_on(async {
            let df = self.ctx.sql(sql).await.map_err(|e| self.classify(e))?;
            let plan = df
                .create_physical_plan()
                .await
                .map_err(|e| self.classify(e))?;
            self.drain(plan, self.ctx.task_ctx(), &mut each).await
        })
    }

    /// Runs `sql` and returns every row.
    pub fn run(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let mut batches = Vec::new();
        let schema = self.stream(sql, |b| {
            batches.push(b.clone());
            Ok(())
        })?;
        Ok(QueryResult { schema, batches })
    }

    /// The session a pass of a newest-first search plans in. No statistics
    /// from the files' footers: the manifest has already narrowed the files
    /// to the pass's time range and each file prunes its own row groups as it
    /// opens, while gathering them at planning decodes every footer and page
    /// index on one thread, page indexes of files the scan then skips
    /// included (BENCHMARKS.md: 2-4 ms of a 25 ms needle).
    fn pass_state(&self) -> datafusion::execution::SessionState {
        let mut state = self.ctx.state();
        state
            .config_mut()
            .options_mut()
            .execution
            .collect_statistics = false;
        state
    }

    /// Runs `sql` as one pass of a newest-first search ([`Engine::pass_state`]).
    pub fn run_pass(&self, sql: &str) -> Result<QueryResult, QueryError> {
        self.runtime.block_on(async {
            let state = self.pass_state();
            let plan = state
                .create_logical_plan(sql)
                .await
                .map_err(|e| self.classify(e))?;
            let plan = state
                .create_physical_plan(&plan)
                .await
                .map_err(|e| self.classify(e))?;
            let task = Arc::new(datafusion::execution::TaskContext::from(&state));
            self.collect(plan, task).await
        })
    }

    /// Runs `sql`, a sort by plain columns with a limit, as a pass of a
    /// newest-first search, unless a table scan of its optimized plan reads
    /// `column`: then `None`, and nothing is read. The sort's threshold is
    /// pushed into the scan: once the limit's rows are held, files and row
    /// groups that cannot beat the last are skipped. (Off for other
    /// queries: [`Engine::open`].)
    pub fn run_top_unless_scanning(
        &self,
        sql: &str,
        column: &str,
    ) -> Result<Option<QueryResult>, QueryError> {
        self.runtime.block_on(async {
            let mut state = self.pass_state();
            state
                .config_mut()
                .options_mut()
                .optimizer
                .enable_topk_dynamic_filter_pushdown = true;
            let plan = state
                .create_logical_plan(sql)
                .await
                .and_then(|p| state.optimize(&p))
                .map_err(|e| self.classify(e))?;
            if scans(&plan, column)? {
                return Ok(None);
            }
            let plan = state
                .query_planner()
                .create_physical_plan(&plan, &state)
                .await
                .map_err(|e| self.classify(e))?;
            let task = Arc::new(datafusion::execution::TaskContext::from(&state));
            self.collect(plan, task).await.map(Some)
        })
    }

    /// Executes `plan` and returns every row.
    async fn collect(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        task: Arc<datafusion::execution::TaskContext>,
    ) -> Result<QueryResult, QueryError> {
        let mut batches = Vec::new();
        let schema = self
            .drain(plan, task, &mut |b: &RecordBatch| {
                batches.push(b.clone());
                Ok(())
            })
            .await?;
        Ok(QueryResult { schema, batches })
    }

    /// Executes `plan`, handing each batch to `each`; Ctrl-C cancels.
    async fn drain(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        task: Arc<datafusion::execution::TaskContext>,
        each: &mut impl FnMut(&RecordBatch) -> Result<(), QueryError>,
    ) -> Result<SchemaRef, QueryError> {
        let mut stream =
            datafusion::physical_plan::execute_stream(plan, task).map_err(|e| self.classify(e))?;
        let schema = stream.schema();
        let run = async {
            while let Some(batch) = stream.next().await {
                each(&batch.map_err(|e| self.classify(e))?)?;
            }
            Ok::<(), QueryError>(())
        };
        tokio::select! {
            r = run => r?,
            _ = tokio::signal::ctrl_c() => return Err(QueryError::Cancelled),
        }
        Ok(schema)
    }

    /// Mines the templates of a query with `pattern`, or counts by
    /// dictionary keys for a [`crate::compile::PreCount`], and registers
    /// the table its SQL reads; nothing to do for other queries.
    pub fn prepare(&self, c: &crate::compile::Compiled) -> Result<(), QueryError> {
        if let Some(pc) = &c.precount {
            let batch = self.precount(pc)?;
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(engine_err)?;
            self.ctx.deregister_table(&pc.table).map_err(engine_err)?;
            self.ctx
                .register_table(&pc.table, Arc::new(table))
                .map_err(engine_err)?;
        }
        let Some(st) = &c.pattern else {
            return Ok(());
        };
        let window = match st.window {
            (Some(s), Some(e)) => Some((s, e)),
            _ if st.anomaly => self.span(&st.input)?,
            _ => None,
        };
        let mut miner = Miner::new(window);
        let inputs = st
            .previous
            .iter()
            .map(|p| (p, true))
            .chain([(&st.input, false)]);
        for (sql, previous) in inputs {
            self.stream(sql, |b| {
                let text = cast(b.column(0), &DataType::Utf8).map_err(engine_err)?;
                let text = text.as_string_opt::<i32>();
                let time = b.column(1).as_primitive_opt::<Int64Type>();
                let (Some(text), Some(time)) = (text, time) else {
                    return Err(QueryError::Engine(
                        "pattern input has unexpected types".into(),
                    ));
                };
                for i in 0..b.num_rows() {
                    if text.is_valid(i) {
                        miner.add(text.value(i), time.value(i), previous);
                    }
                }
                Ok(())
            })?;
        }
        let batch = pattern_batch(&miner, st).map_err(engine_err)?;
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(engine_err)?;
        self.ctx
            .deregister_table(PATTERN_TABLE)
            .map_err(engine_err)?;
        self.ctx
            .register_table(PATTERN_TABLE, Arc::new(table))
            .map_err(engine_err)?;
        Ok(())
    }

    /// First and last time (µs, end exclusive) of a pattern input, for `anomaly` without a range.
    fn span(&self, input: &str) -> Result<Option<(i64, i64)>, QueryError> {
        let r = self.run(&format!(
            "SELECT min(\"__time\"), max(\"__time\") FROM ({input})"
        ))?;
        let Some(b) = r.batches.first().filter(|b| b.num_rows() == 1) else {
            return Ok(None);
        };
        let min = b.column(0).as_primitive_opt::<Int64Type>();
        let max = b.column(1).as_primitive_opt::<Int64Type>();
        Ok(match (min, max) {
            (Some(a), Some(z)) if a.is_valid(0) && z.is_valid(0) => {
                Some((a.value(0), z.value(0) + 1))
            }
            _ => None,
        })
    }

    /// Files counted from their footer's value counts so far.
    pub fn footer_counted(&self) -> usize {
        self.footer_counted
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The counts of a [`crate::compile::PreCount`], as a table: from the
    /// footers of the files it reads whole where they hold value counts,
    /// by reading the others.
    fn precount(&self, pc: &crate::compile::PreCount) -> Result<RecordBatch, QueryError> {
        let mut total = KeyCounter::new(pc.columns.clone());
        let (start, end) = self.range;
        let inside = |f: &FileEntry| {
            start.is_none_or(|s| f.min_time >= s) && end.is_none_or(|e| f.max_time < e)
        };
        // Files of other kinds hold no row of the input.
        let files: Vec<&FileEntry> = self
            .files
            .iter()
            .filter(|f| pc.sources.is_empty() || pc.sources.contains(&f.source))
            .collect();
        let mut read: Vec<&FileEntry> = Vec::new();
        let mut counted = 0;
        if pc.whole {
            let whole: Vec<&FileEntry> = files.iter().copied().filter(|f| inside(f)).collect();
            let footers = self.footer_counts(&whole)?;
            for (f, counts) in whole.into_iter().zip(footers) {
                let source = |c: &str| (c == "source").then(|| f.source.clone());
                match counts.and_then(|c| c.marginal(&pc.columns, source)) {
                    Some(rows) => {
                        for (values, n) in rows {
                            let values: Vec<Option<&str>> =
                                values.iter().map(Option::as_deref).collect();
                            total.add_row(&values, n);
                        }
                        counted += 1;
                    }
                    None => read.push(f),
                }
            }
            read.extend(files.iter().copied().filter(|f| !inside(f)));
        } else {
            read = files;
        }
        self.footer_counted
            .fetch_add(counted, std::sync::atomic::Ordering::Relaxed);
        if !read.is_empty() {
            let narrowed = read.len() < self.files.len();
            if narrowed {
                self.register_files(&read)?;
            }
            let keys = self.count_keys(&pc.input, &pc.columns);
            if narrowed {
                self.narrow(None, None)?;
            }
            total.merge(keys?);
        }
        crate::precount::finish(&total).map_err(engine_err)
    }

    /// The value counts in the footers of `files` (`None` for a file without).
    fn footer_counts(
        &self,
        files: &[&FileEntry],
    ) -> Result<Vec<Option<mamori_store::counts::FileCounts>>, QueryError> {
        let mut reads = Vec::with_capacity(files.len());
        for f in files {
            let url =
                ListingTableUrl::parse(format!("{}/{}", self.base, f.path)).map_err(engine_err)?;
            let store = self
                .ctx
                .runtime_env()
                .object_store(url.object_store())
                .map_err(engine_err)?;
            let (path, size) = (url.prefix().clone(), f.bytes);
            reads.push(
                async move { crate::precount::footer_counts(store.as_ref(), &path, size).await },
            );
        }
        let results = self.runtime.block_on(futures::future::join_all(reads));
        results
            .into_iter()
            .collect::<Result<Vec<_>, String>>()
            .map_err(QueryError::Engine)
    }

    /// Counts the rows of `sql` by its dictionary columns `columns`: one
    /// counter per partition, each on the thread that reads it, merged.
    fn count_keys(&self, sql: &str, columns: &[String]) -> Result<KeyCounter, QueryError> {
        self.runtime.block_on(async {
            let df = self.ctx.sql(sql).await.map_err(|e| self.classify(e))?;
            // Batches carry one small key per row and a shared dictionary: larger
            // ones cost no memory to speak of and spread the per-batch work thinner.
            let task = df.task_ctx();
            let config = task
                .session_config()
                .clone()
                .with_batch_size(PRECOUNT_BATCH_ROWS);
            let task = Arc::new(task.with_session_config(config));
            let plan = df
                .create_physical_plan()
                .await
                .map_err(|e| self.classify(e))?;
            let streams = datafusion::physical_plan::execute_stream_partitioned(plan, task)
                .map_err(|e| self.classify(e))?;
            let parts = streams.into_iter().map(|mut stream| {
                let columns = columns.to_vec();
                tokio::spawn(async move {
                    let mut counter = KeyCounter::new(columns);
                    while let Some(b) = stream.next().await {
                        crate::precount::add_batch(&mut counter, &b?)?;
                    }
                    Ok::<_, datafusion::error::DataFusionError>(counter)
                })
            });
            let run = async {
                let mut total = KeyCounter::new(columns.to_vec());
                for part in parts.collect::<Vec<_>>() {
                    let counter = part
                        .await
                        .map_err(engine_err)?
                        .map_err(|e| self.classify(e))?;
                    total.merge(counter);
                }
                Ok(total)
            };
            tokio::select! {
                r = run => r,
                _ = tokio::signal::ctrl_c() => Err(QueryError::Cancelled),
            }
        })
    }

    /// The columns `sql` gives, planned but not run.
    pub fn schema_of(&self, sql: &str) -> Result<SchemaRef, QueryError> {
        self.runtime.block_on(async {
            let df = self.ctx.sql(sql).await.map_err(|e| self.classify(e))?;
            Ok(Arc::new(df.schema().as_arrow().clone()))
        })
    }

    /// The physical plan DataFusion chose, for `--explain`.
    pub fn explain(&self, sql: &str) -> Result<String, QueryError> {
        let r = self.run(&format!("EXPLAIN {sql}"))?;
        crate::output::table(&r.batches).map_err(engine_err)
    }
}

/// The templates as a table: one row per template, or per anomaly with `anomaly`.
fn pattern_batch(m: &Miner, st: &PatternStage) -> Result<RecordBatch, ArrowError> {
    let mut pattern = Vec::new();
    let mut ratio = Vec::new();
    let mut count = Vec::new();
    let mut severity = Vec::new();
    let mut previous = Vec::new();
    let mut change = Vec::new();
    let mut kind = Vec::new();
    let mut anomaly_type = Vec::new();
    let mut description = Vec::new();
    for t in m.templates() {
        let anomalies = if st.anomaly {
            m.anomalies(t)
        } else {
            vec![("", String::new())]
        };
        for (a, d) in anomalies {
            pattern.push(t.text());
            ratio.push(if m.total == 0 {
                0.0
            } else {
                t.count as f64 / m.total as f64
            });
            count.push(i64::try_from(t.count).unwrap_or(i64::MAX));
            severity.push(t.severity());
            previous.push(i64::try_from(t.previous).unwrap_or(i64::MAX));
            change.push(
                (t.previous > 0)
                    .then(|| (t.count as f64 - t.previous as f64) * 100.0 / t.previous as f64),
            );
            kind.push(match (t.previous, t.count) {
                (0, _) => "new",
                (_, 0) => "gone",
                (p, c) if c * 10 > p * 11 => "increased",
                (p, c) if c * 10 < p * 9 => "decreased",
                _ => "unchanged",
            });
            anomaly_type.push(a);
            description.push(d);
        }
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut add = |name: &str, ty: DataType, col: ArrayRef| {
        fields.push(Field::new(name, ty, true));
        columns.push(col);
    };
    let [p, r, c, s] = PATTERN_COLUMNS;
    add(p, DataType::Utf8, Arc::new(StringArray::from(pattern)));
    add(r, DataType::Float64, Arc::new(Float64Array::from(ratio)));
    add(c, DataType::Int64, Arc::new(Int64Array::from(count)));
    add(s, DataType::Utf8, Arc::new(StringArray::from(severity)));
    if st.previous.is_some() {
        let [p, c, k] = DIFF_COLUMNS;
        add(p, DataType::Int64, Arc::new(Int64Array::from(previous)));
        add(c, DataType::Float64, Arc::new(Float64Array::from(change)));
        add(k, DataType::Utf8, Arc::new(StringArray::from(kind)));
    }
    if st.anomaly {
        let [t, d] = ANOMALY_COLUMNS;
        add(t, DataType::Utf8, Arc::new(StringArray::from(anomaly_type)));
        add(d, DataType::Utf8, Arc::new(StringArray::from(description)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// The store's schema as the engine reads it, `raw` as `Utf8View` when asked.
fn table_schema(raw_as_view: bool) -> SchemaRef {
    let store = mamori_store::schema::schema();
    if !raw_as_view {
        return store;
    }
    let fields: Vec<Field> = store
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "raw" => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, store.metadata().clone()))
}

/// Whether a table scan of `plan` reads `column` (projected or in a pushed filter).
fn scans(plan: &datafusion::logical_expr::LogicalPlan, column: &str) -> Result<bool, QueryError> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::LogicalPlan;
    let mut found = false;
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            found |= scan
                .projected_schema
                .fields()
                .iter()
                .any(|f| f.name() == column)
                || scan
                    .filters
                    .iter()
                    .any(|f| f.column_refs().iter().any(|c| c.name == column));
        }
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })
    .map_err(engine_err)?;
    Ok(found)
}
