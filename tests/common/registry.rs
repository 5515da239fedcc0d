//! A real Schema Registry for the tests (Apicurio, scripts/registry.sh), and
//! an authenticating TLS proxy in front of it (nginx,
//! scripts/registry-proxy.sh). Both fail loudly when they cannot start.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn script(name: &str) -> String {
    format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Starts registry `name`, stopped with this test process at the latest;
/// its Confluent-compatible base URL. `why` says which test needs it.
pub fn start_registry(name: &str, why: &str) -> String {
    let out = Command::new(script("registry.sh"))
        .args(["start", "--name", name])
        .args(["--owner", &std::process::id().to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/registry.sh");
    assert!(
        out.status.success(),
        "scripts/registry.sh start --name {name} failed: {why}"
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(url.starts_with("http://"), "registry URL: {url:?}");
    url
}

/// Stops registry `name`.
pub fn stop_registry(name: &str) {
    let status = Command::new(script("registry.sh"))
        .args(["stop", "--name", name])
        .status()
        .expect("scripts/registry.sh stop");
    assert!(status.success(), "scripts/registry.sh stop --name {name}");
}

/// How the proxy wants its clients to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyAuth {
    /// HTTP basic authentication.
    Basic,
    /// `Authorization: Bearer TOKEN`.
    Bearer,
}

/// nginx serving HTTPS in front of a registry, passing on only requests
/// with its credentials; stopped when dropped (or with the test process).
pub struct RegistryProxy {
    name: String,
    dir: PathBuf,
    /// The proxy's Confluent-compatible base URL (https://127.0.0.1:PORT/...).
    pub url: String,
}

impl RegistryProxy {
    /// Starts a proxy in front of the registry at `registry_url`.
    pub fn start(name: &str, registry_url: &str, auth: ProxyAuth) -> RegistryProxy {
        let auth_name = match auth {
            ProxyAuth::Basic => "basic",
            ProxyAuth::Bearer => "bearer",
        };
        let out = Command::new(script("registry-proxy.sh"))
            .args(["start", "--name", name, "--registry", registry_url])
            .args(["--auth", auth_name])
            .args(["--owner", &std::process::id().to_string()])
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/registry-proxy.sh");
        assert!(
            out.status.success(),
            "scripts/registry-proxy.sh start --name {name} failed: the registry authentication tests need nginx in front of the registry"
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(url.starts_with("https://127.0.0.1:"), "proxy URL: {url:?}");
        RegistryProxy {
            name: name.to_string(),
            dir: PathBuf::from(format!(
                "{}/.registry/proxy-{name}",
                env!("CARGO_MANIFEST_DIR")
            )),
            url,
        }
    }

    /// The PEM file of the CA that signed the proxy's certificate.
    pub fn ca_file(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }

    /// `USER:PASSWORD` (a proxy with basic authentication).
    pub fn user_info(&self) -> String {
        self.read("user-info")
    }

    /// The bearer token (a proxy with bearer authentication).
    pub fn token(&self) -> String {
        self.read("token")
    }

    /// The requests the proxy has answered so far, one `METHOD PATH STATUS`
    /// each, in order.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .expect("the proxy's access.log")
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_else(|e| panic!("the proxy's {file}: {e}"))
            .trim()
            .to_string()
    }
}

impl Drop for RegistryProxy {
    fn drop(&mut self) {
        let _ = Command::new(script("registry-proxy.sh"))
            .args(["stop", "--name", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}
