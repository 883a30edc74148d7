//! Reading a posted `multipart/form-data` form (a file input beside text
//! fields): bounded, CSRF-checked, parsed by hand because a page needs
//! only the simple shape browsers send (one boundary, `name` and
//! `filename` in `Content-Disposition`, no nested parts).

use std::collections::HashMap;

use axum::http::{header, HeaderMap};

use super::forms::Form;
use super::session::{Viewer, CSRF_FIELD};
use super::WebError;

/// A file part of the form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadedFile {
    /// The name the browser sent (control characters dropped, at most 200
    /// characters); may be empty.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A multipart form: its text fields (as a [`Form`]) and its files by name.
#[derive(Debug, Default)]
pub struct Upload {
    pub form: Form,
    pub files: HashMap<String, UploadedFile>,
}

/// Why a body is not a multipart form we read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// Not `multipart/form-data`, or no boundary.
    NotMultipart,
    /// More than the limit.
    TooLarge,
    /// A part without headers, name or closing boundary.
    Malformed,
}

impl Upload {
    /// Reads at most `limit` bytes of the body, parses it and checks its
    /// CSRF field (403 when wrong or absent).
    pub async fn read(
        viewer: &Viewer,
        headers: &HeaderMap,
        body: axum::body::Body,
        limit: usize,
    ) -> Result<Upload, WebError> {
        let boundary = boundary(headers).ok_or(UploadError::NotMultipart)?;
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| UploadError::TooLarge)?;
        let upload = parse(&bytes, &boundary)?;
        viewer.check_csrf(upload.form.raw(CSRF_FIELD).as_deref())?;
        Ok(upload)
    }
}

impl From<UploadError> for WebError {
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::NotMultipart => WebError::BadRequest("not a file upload".into()),
            UploadError::TooLarge => WebError::BadRequest("the file is too large".into()),
            UploadError::Malformed => WebError::BadRequest("the upload is malformed".into()),
        }
    }
}

/// The boundary of a `multipart/form-data` content type.
fn boundary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mut pieces = value.split(';');
    if !pieces
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    pieces.find_map(|piece| {
        let (key, value) = piece.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 200).then(|| value.to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + from)
}

/// A quoted or bare parameter of a `Content-Disposition` line.
fn parameter(line: &str, name: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(name).map(|at| at + from) {
        let before = lower[..at].trim_end();
        let after = &line[at + name.len()..];
        from = at + name.len();
        if !(before.ends_with(';') || before.is_empty()) {
            continue;
        }
        let Some(rest) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        return Some(match rest.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or("").to_owned(),
            None => rest.split(';').next().unwrap_or("").trim().to_owned(),
        });
    }
    None
}

/// Parses a whole multipart body.
pub fn parse(body: &[u8], boundary: &str) -> Result<Upload, UploadError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut files = HashMap::new();
    let mut at = find(body, delimiter, 0).ok_or(UploadError::Malformed)?;
    loop {
        let after = at + delimiter.len();
        if body[after..].starts_with(b"--") {
            break;
        }
        let start = if body[after..].starts_with(b"\r\n") {
            after + 2
        } else {
            return Err(UploadError::Malformed);
        };
        let headers_end = find(body, b"\r\n\r\n", start).ok_or(UploadError::Malformed)?;
        let next = find(body, &[b"\r\n", delimiter].concat(), headers_end + 2)
            .ok_or(UploadError::Malformed)?;
        let content = &body[headers_end + 4..next.max(headers_end + 4)];
        let headers = String::from_utf8_lossy(&body[start..headers_end]);
        let disposition = headers
            .split("\r\n")
            .find(|line| {
                line.to_ascii_lowercase()
                    .starts_with("content-disposition:")
            })
            .ok_or(UploadError::Malformed)?;
        let name = parameter(disposition, "name").ok_or(UploadError::Malformed)?;
        match parameter(disposition, "filename") {
            Some(file_name) => {
                let file_name: String = file_name
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect();
                files.insert(
                    name,
                    UploadedFile {
                        name: file_name,
                        bytes: content.to_vec(),
                    },
                );
            }
            None => fields.push((name, String::from_utf8_lossy(content).into_owned())),
        }
        at = next + 2;
    }
    let encoded = {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &fields {
            serializer.append_pair(name, value);
        }
        serializer.finish()
    };
    Ok(Upload {
        form: Form::parse(encoded.as_bytes()),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &str = "----b0undary";

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, file, content) in parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match file {
                Some(file) => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    #[test]
    fn fields_and_a_file_are_read_as_sent() {
        let csv = "ИНН;Название\r\n7707083893;ООО \"Ромашка\"\r\n".as_bytes();
        let upload = parse(
            &body(&[
                ("kind", None, b"companies"),
                ("file", Some("C:\\exports\\base.csv"), csv),
                ("pairs", None, "ИНН = inn\r\nНазвание = name".as_bytes()),
            ]),
            BOUNDARY,
        )
        .expect("parsed");
        assert_eq!(upload.form.text("kind").as_deref(), Some("companies"));
        assert_eq!(
            upload.form.raw("pairs").as_deref(),
            Some("ИНН = inn\r\nНазвание = name")
        );
        let file = &upload.files["file"];
        assert_eq!(file.name, "base.csv", "the folder is dropped");
        assert_eq!(file.bytes, csv, "CRLF inside the file is kept");
    }

    #[test]
    fn an_empty_file_and_a_truncated_body_are_told_apart() {
        let upload = parse(&body(&[("file", Some(""), b"")]), BOUNDARY).expect("parsed");
        assert_eq!(upload.files["file"].bytes, b"");
        let mut cut = body(&[("file", Some("a.csv"), b"a;b\r\n1;2")]);
        cut.truncate(cut.len() - 20);
        assert_eq!(
            parse(&cut, BOUNDARY).err(),
            Some(UploadError::Malformed),
            "no closing boundary"
        );
        assert_eq!(
            parse(b"garbage", BOUNDARY).err(),
            Some(UploadError::Malformed)
        );
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=\"abc\"".parse().unwrap(),
        );
        assert_eq!(boundary(&headers).as_deref(), Some("abc"));
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(boundary(&headers), None);
    }
}
