//! The unary hello service shared by the gRPC contenders and the load client.

/// Generated from `proto/hello.proto`.
pub mod pb {
    tonic::include_proto!("bench");
}

use pb::hello_server::Hello;
use pb::{HelloReply, HelloRequest};

/// Answers `hello`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HelloService;

#[tonic::async_trait]
impl Hello for HelloService {
    async fn say(
        &self,
        _request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        Ok(tonic::Response::new(HelloReply {
            message: "hello".into(),
        }))
    }
}

/// The method path the tollgate contender protects.
pub const SAY: &str = "/bench.Hello/Say";

/// `$name` from the environment, or a panic naming it.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("environment variable {name} is required"))
}

/// 127.0.0.1:`$PORT`.
pub fn addr() -> std::net::SocketAddr {
    let port: u16 = var("PORT").parse().expect("PORT");
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}
