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
    for command in ["serve", "migrate", "seed", "create-admin"] {
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
