//! A small closed-loop load generator for the unary hello (wrk does not speak gRPC).
//!
//! `grpc-load --addr 127.0.0.1:PORT [--token T] [--duration 10] [--warmup 2]
//!            [--connections 4] [--concurrency 32]`
//!
//! Opens `connections` HTTP/2 connections and keeps `concurrency` calls in flight
//! (spread over the connections) on a single-threaded runtime; after `warmup` seconds
//! it counts completed calls for `duration` seconds. Prints one line:
//! `rps=<calls/s> p50_us=<..> p99_us=<..> ok=<n> errors=<n>`; any error makes the exit
//! status 1 (a contender answering UNAUTHENTICATED must not look fast).
use std::time::{Duration, Instant};

use bench_grpc::pb::{HelloRequest, hello_client::HelloClient};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

fn usage() -> ! {
    eprintln!(
        "usage: grpc-load --addr HOST:PORT [--token T] [--duration S] [--warmup S] [--connections C] [--concurrency N]"
    );
    std::process::exit(2)
}

struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

fn main() {
    let mut addr = None;
    let mut token: Option<String> = None;
    let (mut duration, mut warmup, mut connections, mut concurrency) =
        (10u64, 2u64, 4usize, 32usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--addr" => addr = Some(val()),
            "--token" => token = Some(val()),
            "--duration" => duration = val().parse().unwrap_or_else(|_| usage()),
            "--warmup" => warmup = val().parse().unwrap_or_else(|_| usage()),
            "--connections" => connections = val().parse().unwrap_or_else(|_| usage()),
            "--concurrency" => concurrency = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let addr = addr.unwrap_or_else(|| usage());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run(
        addr,
        token,
        duration,
        warmup,
        connections.max(1),
        concurrency.max(1),
    ));
    std::process::exit(code);
}

async fn run(
    addr: String,
    token: Option<String>,
    duration: u64,
    warmup: u64,
    connections: usize,
    concurrency: usize,
) -> i32 {
    let mut channels: Vec<Channel> = Vec::new();
    for _ in 0..connections {
        let ch = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("connect");
        channels.push(ch);
    }
    let auth: Option<MetadataValue<_>> =
        token.map(|t| format!("Bearer {t}").parse().expect("token is ASCII"));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(warmup);
    let until = measure_from + Duration::from_secs(duration);

    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut client = HelloClient::new(channels[i % connections].clone());
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = Tally {
                ok: 0,
                errors: 0,
                first_error: None,
                latencies_us: Vec::with_capacity(1 << 16),
            };
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let mut req = tonic::Request::new(HelloRequest {
                    name: String::new(),
                });
                if let Some(a) = &auth {
                    req.metadata_mut().insert("authorization", a.clone());
                }
                let res = client.say(req).await;
                let done = Instant::now();
                if sent < measure_from || done > until {
                    continue;
                }
                match res {
                    Ok(_) => {
                        t.ok += 1;
                        t.latencies_us
                            .push(u32::try_from((done - sent).as_micros()).unwrap_or(u32::MAX));
                    }
                    Err(status) => {
                        t.errors += 1;
                        t.first_error.get_or_insert_with(|| {
                            format!("{:?}: {}", status.code(), status.message())
                        });
                    }
                }
            }
            t
        }));
    }
    let (mut ok, mut errors, mut first_error, mut lat) = (0u64, 0u64, None, Vec::new());
    for task in tasks {
        let t = task.await.expect("load task");
        ok += t.ok;
        errors += t.errors;
        first_error = first_error.or(t.first_error);
        lat.extend(t.latencies_us);
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "rps={:.0} p50_us={} p99_us={} ok={ok} errors={errors}",
        ok as f64 / duration as f64,
        pct(0.50),
        pct(0.99)
    );
    if let Some(e) = first_error {
        eprintln!("grpc-load: first error: {e}");
        return 1;
    }
    0
}
