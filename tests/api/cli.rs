//! The binary: bad configuration stops start-up with one clear line.

use std::process::Command;

fn run_with_env(vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_catalog-cache"));
    cmd.arg("migrate")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("PORT")
        .env_remove("SESSION_SECRET")
        .env(
            "APP_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        );
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

#[test]
fn bad_configuration_stops_with_a_line_naming_the_setting() {
    for (var, value, needle) in [
        ("PORT", "70000", "port"),
        ("APP_ENV", "staging", "APP_ENV"),
        ("DATABASE_URL", "::nope::", "DATABASE_URL"),
        ("REDIS_URL", "http://127.0.0.1", "REDIS_URL"),
        ("APP_ENV", "production", "SESSION_SECRET is required"),
        ("SESSION_SECRET", "too short", "SESSION_SECRET"),
    ] {
        let output = run_with_env(&[(var, value)]);
        assert!(!output.status.success(), "{var}={value} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(needle), "{var}: {stderr}");
    }
}

#[test]
fn help_lists_the_commands() {
    let output = Command::new(env!("CARGO_BIN_EXE_catalog-cache"))
        .arg("--help")
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "seed", "create-admin", "set-role"] {
        assert!(stdout.contains(command), "{stdout}");
    }
}

#[actix_web::test]
async fn create_admin_reads_the_password_from_stdin() {
    use std::io::Write;

    let app = crate::helpers::spawn_app().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_catalog-cache"))
        .args(["create-admin", "--email", "Root@Example.com"])
        .env(
            "APP_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env(
            "DATABASE_URL",
            secrecy::ExposeSecret::expose_secret(&app.settings.database.url),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{}", crate::helpers::PASSWORD).expect("password written");
    }
    let output = child.wait_with_output().expect("binary ends");
    assert!(output.status.success(), "{output:?}");
    let client = app.anonymous_client();
    assert!(
        app.try_login(&client, "root@example.com", crate::helpers::PASSWORD)
            .await
    );
    let me: serde_json::Value = client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(me["data"]["role"], "admin");
}

#[test]
fn serve_seeds_demo_data_and_stops_cleanly_on_sigterm() {
    use secrecy::ExposeSecret;
    use std::time::{Duration, Instant};

    let settings = crate::helpers::test_settings();
    let _cleanup = crate::helpers::cleanup_guard(&settings);
    let port = crate::private_redis::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_catalog-cache"))
        .arg("serve")
        .env("APP_ENV", "development")
        .env(
            "APP_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("DATABASE_URL", settings.database.url.expose_secret())
        .env("REDIS_PREFIX", &settings.redis.prefix)
        .env("PORT", port.to_string())
        .env("APP__SEED__DEMO_PRODUCTS", "25")
        .env("APP__LOG__LEVEL", "info")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");

    let url = format!("http://127.0.0.1:{port}/api/products?limit=1");
    let deadline = Instant::now() + Duration::from_secs(60);
    let body: serde_json::Value = loop {
        match raw_http::get_json(&url) {
            Some(body) => break body,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            None => {
                let _ = child.kill();
                panic!("server did not answer in time");
            }
        }
    };
    assert_eq!(body["total"], 25, "demo data seeded into the empty table");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
    let output = child.wait_with_output().expect("output");
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.contains("stopped"), "{logs}");
}

/// A tiny blocking GET, so this synchronous test needs no runtime of its own.
mod raw_http {
    use std::io::{Read, Write};

    pub fn get_json(url: &str) -> Option<serde_json::Value> {
        let rest = url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/')?;
        let mut stream = std::net::TcpStream::connect(host).ok()?;
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        serde_json::from_str(body).ok()
    }
}

#[actix_web::test]
async fn set_role_changes_the_role_of_signed_in_sessions() {
    let app = crate::helpers::spawn_app().await;
    let set_role = |email: &str, role: &str| {
        Command::new(env!("CARGO_BIN_EXE_catalog-cache"))
            .args(["set-role", "--email", email, "--role", role])
            .env(
                "APP_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env(
                "DATABASE_URL",
                secrecy::ExposeSecret::expose_secret(&app.settings.database.url),
            )
            .env("APP__LOG__LEVEL", "warn")
            .output()
            .expect("binary runs")
    };
    let output = set_role(&app.admin_email.to_uppercase(), "user");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("is now user"));

    // The admin signed in before the change is a user within a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let role = loop {
        let me: serde_json::Value = app.get("/api/auth/me").await.json().await.expect("json");
        if me["data"]["role"] == "user" || std::time::Instant::now() >= deadline {
            break me["data"]["role"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert_eq!(role, "user");

    let unknown = set_role("nobody@example.com", "admin");
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("nobody@example.com"), "{stderr}");
    assert!(!set_role(&app.admin_email, "root").status.success());
}
