//! Sign-in throttling and API tokens over HTTP, on both backends.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::{expect_problem, TestServer, PASSWORD};
use voronka_core::Role;

on_both_backends!(
    repeated_wrong_passwords_lock_the_email_for_a_while,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let attempt = |password: &'static str| {
            server.send(
                reqwest::Method::POST,
                None,
                "/api/v1/auth/login",
                Some(json!({"email": "ANNA@e2e.test", "password": password})),
            )
        };
        for _ in 0..5 {
            expect_problem(
                attempt("wrong").await,
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
            );
        }
        // Locked now, even with the right password; other users are not.
        let locked = expect_problem(
            attempt(PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
        );
        assert!(locked["detail"].as_str().unwrap().contains("try again"));
        server.login("admin@e2e.test").await;
        // The existing session keeps working.
        assert_eq!(
            server.get(&anna.token, "/api/v1/me").await.0,
            StatusCode::OK
        );
    }
);

on_both_backends!(
    an_administrator_issues_api_tokens_for_integrations,
    |server: TestServer| async move {
        let robot = server
            .user("robot", &[Role::Integrator], server.company_department)
            .await;
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let path = format!("/api/v1/users/{}/api-tokens", robot.id);
        expect_problem(
            server.post(&anna.token, &path, json!({})).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        expect_problem(
            server.post(&server.admin, &path, json!({"days": 0})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "days_out_of_range",
        );
        let (status, issued) = server.post(&server.admin, &path, json!({"days": 30})).await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        let token = issued["token"].as_str().unwrap();
        assert!(token.starts_with("vrk_"));
        let (status, me) = server.get(token, "/api/v1/me").await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["id"], robot.id.to_string());
        assert_eq!(server.get(token, "/api/v1/events").await.0, StatusCode::OK);
        // Revoked by presenting it to logout.
        assert_eq!(
            server
                .send(
                    reqwest::Method::POST,
                    Some(token),
                    "/api/v1/auth/logout",
                    None
                )
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        expect_problem(
            server.get(token, "/api/v1/me").await,
            StatusCode::UNAUTHORIZED,
            "token_invalid",
        );
    }
);
