//! Bare tonic 0.14 unary hello (no authentication): the gRPC reference.
use bench_grpc::{HelloService, addr, pb::hello_server::HelloServer};

#[tokio::main]
async fn main() {
    let addr = addr();
    println!("listening on {addr}");
    tonic::transport::Server::builder()
        .add_service(HelloServer::new(HelloService))
        .serve(addr)
        .await
        .expect("server");
}
