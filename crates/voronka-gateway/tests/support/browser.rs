//! A browser-like client for the web pages over real HTTP: it keeps the
//! session cookie and the CSRF token of the last page that had a form, and
//! asks for pages in one language, as a browser would. Redirects are not
//! followed, so tests see the `303` and its `Location`.

use reqwest::StatusCode;

use super::{TestServer, PASSWORD};

pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub cookies: Vec<(String, String)>,
    /// The CSRF token of the last page with a form.
    pub csrf: String,
    /// The `Accept-Language` sent with every request.
    pub language: String,
}

/// Every `Set-Cookie` of a response: name, value, attributes.
pub fn set_cookies(response: &reqwest::Response) -> Vec<(String, String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (pair, attributes) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=')?;
            Some((name.to_owned(), value.to_owned(), attributes.to_owned()))
        })
        .collect()
}

/// The CSRF token of a page's first form.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..start + 32].to_owned()
}

/// Form fields, URL-encoded as a browser posts them.
pub fn form(fields: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

impl Browser {
    /// A browser with no session yet, reading Russian.
    pub fn new(server: &TestServer) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: server.base.clone(),
            cookies: Vec::new(),
            csrf: String::new(),
            language: "ru-RU,ru;q=0.9".to_owned(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&mut self, response: &reqwest::Response) {
        for (name, value, _) in set_cookies(response) {
            self.cookies.retain(|(n, _)| *n != name);
            if !value.is_empty() {
                self.cookies.push((name, value));
            }
        }
    }

    /// A page: status and HTML (its CSRF token remembered).
    pub async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let response = self.get_raw(path).await;
        self.remember(&response);
        let status = response.status();
        let body = response.text().await.expect("body");
        if body.contains("name=\"_csrf\"") {
            self.csrf = csrf_of(&body);
        }
        (status, body)
    }

    /// A GET with the raw answer (for headers and downloads).
    pub async fn get_raw(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", &self.language)
            .send()
            .await
            .expect("GET")
    }

    /// Posts a form with the session's CSRF token (unless `csrf` is false):
    /// status, body and `Location`.
    pub async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        csrf: bool,
    ) -> (StatusCode, String, Option<String>) {
        let token = self.csrf.clone();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if csrf {
            all.push(("_csrf", &token));
        }
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", &self.language)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&all))
            .send()
            .await
            .expect("POST");
        self.remember(&response);
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status();
        (status, response.text().await.expect("body"), location)
    }

    /// Posts a `multipart/form-data` form as a browser's file input does:
    /// the text fields (and the session's CSRF token unless `csrf` is
    /// false), then one file part `(field, file name, bytes)`.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
        csrf: bool,
    ) -> (StatusCode, String, Option<String>) {
        const BOUNDARY: &str = "----voronka-test-boundary-7MA4YWxkTrZu0gW";
        let token = self.csrf.clone();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if csrf {
            all.push(("_csrf", &token));
        }
        let mut body = Vec::new();
        for (name, value) in all {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (field, file_name, bytes) = file;
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", &self.language)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .expect("POST");
        self.remember(&response);
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status();
        (status, response.text().await.expect("body"), location)
    }

    /// Signs `email` in through the sign-in form, reading Russian.
    pub async fn sign_in(server: &TestServer, email: &str) -> Browser {
        Browser::sign_in_reading(server, email, "ru-RU,ru;q=0.9").await
    }

    /// Signs `email` in through the sign-in form, reading `language`.
    pub async fn sign_in_reading(server: &TestServer, email: &str, language: &str) -> Browser {
        let mut browser = Browser::new(server);
        browser.language = language.to_owned();
        let (status, _) = browser.get("/login").await;
        assert_eq!(status, StatusCode::OK);
        let (status, body, location) = browser
            .post("/login", &[("email", email), ("password", PASSWORD)], true)
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in of {email}: {body}");
        assert_eq!(location.as_deref(), Some("/"));
        let (status, _) = browser.get("/").await;
        assert_eq!(status, StatusCode::OK);
        browser
    }
}
