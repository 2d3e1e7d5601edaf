//! tollgate-client's refresh token source against the dev IdP over real HTTP:
//! rotation, reuse detection, rejection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tollgate_client::endpoint::TokenEndpoint;
use tollgate_client::{
    ClientAuth, OAuthErrorCode, RefreshToken, RefreshTokenSource, TokenError, TokenSource,
};
use tollgate_testkit::idp::DevIdp;

fn endpoint(idp: &DevIdp) -> TokenEndpoint {
    TokenEndpoint::new(&idp.token_endpoint())
        .unwrap()
        .client_auth(ClientAuth::client_secret_basic(
            "demo-full",
            "demo-full-secret",
        ))
}

#[tokio::test]
async fn rotation_and_reuse_detection() {
    let idp = DevIdp::builder().start().await.unwrap();
    let login = idp
        .user_token(
            "demo-full",
            "alice",
            &["orders:read", "orders:write"],
            Some("orders"),
        )
        .await
        .unwrap();
    let rt0 = RefreshToken::new(login.refresh_token.clone().unwrap());
    let src = RefreshTokenSource::builder(endpoint(&idp), rt0.clone())
        .scope("orders:read")
        .build()
        .unwrap();

    // first access token: rt0 used, rotated to rt1
    let a1 = src.token().await.unwrap();
    let rt1 = src.current_refresh_token().unwrap();
    assert_ne!(rt1, rt0, "rotated");
    let claims = tollgate_core::Claims::<()>::from_json(&payload(a1.secret())).unwrap();
    assert_eq!(claims.sub.as_deref(), Some("alice"));
    assert_eq!(
        claims.scopes.to_string(),
        "orders:read",
        "narrowed by the refresh request"
    );
    assert_eq!(src.token().await.unwrap(), a1, "cached");

    // a refused access token makes the next call refresh again: rt1 → rt2
    src.invalidate(&a1);
    let a2 = src.token().await.unwrap();
    assert_ne!(a2, a1);
    let rt2 = src.current_refresh_token().unwrap();
    assert_ne!(rt2, rt1);

    // widening the scope on refresh is refused
    let wider = RefreshTokenSource::builder(endpoint(&idp), rt2.clone())
        .scope("inventory:read")
        .build()
        .unwrap();
    let e = wider.token().await.unwrap_err();
    assert_eq!(e.oauth_code(), Some(&OAuthErrorCode::InvalidScope));

    // replaying the used rt0 is refused and revokes the whole family, rt2 included
    let replay = RefreshTokenSource::builder(endpoint(&idp), rt0)
        .build()
        .unwrap();
    let e = replay.token().await.unwrap_err();
    assert_eq!(e.oauth_code(), Some(&OAuthErrorCode::InvalidGrant));
    src.invalidate(&a2);
    let e = src.token().await.unwrap_err();
    assert_eq!(e.oauth_code(), Some(&OAuthErrorCode::InvalidGrant), "{e}");
    assert!(src.current_refresh_token().is_none());
    // reported clearly from then on, without asking the IdP again
    assert!(matches!(
        src.token().await.unwrap_err(),
        TokenError::RefreshTokenRejected
    ));
}

#[tokio::test]
async fn rejected_refresh_token() {
    let idp = DevIdp::builder().start().await.unwrap();
    let src = RefreshTokenSource::builder(endpoint(&idp), RefreshToken::new("dev_rt_forged"))
        .build()
        .unwrap();
    let e = src.token().await.unwrap_err();
    assert!(
        matches!(
            &e,
            TokenError::OAuth {
                code: OAuthErrorCode::InvalidGrant,
                status: 400,
                ..
            }
        ),
        "{e}"
    );
    assert!(!e.to_string().contains("dev_rt_forged"));
    assert!(matches!(
        src.token().await.unwrap_err(),
        TokenError::RefreshTokenRejected
    ));
    // another client's refresh token is refused as well
    let login = idp
        .user_token("demo-reader", "bob", &[], None)
        .await
        .unwrap();
    let other = RefreshTokenSource::builder(
        endpoint(&idp),
        RefreshToken::new(login.refresh_token.unwrap()),
    )
    .build()
    .unwrap();
    assert_eq!(
        other.token().await.unwrap_err().oauth_code(),
        Some(&OAuthErrorCode::InvalidGrant)
    );
}

fn payload(jwt: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(1).unwrap())
        .unwrap()
}
