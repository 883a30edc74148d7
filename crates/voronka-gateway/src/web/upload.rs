//! Reading a posted `multipart/form-data` form (a file input beside text
//! fields): the body read whole up to a limit, split into parts by
//! `multer`, and CSRF-checked.

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
        let upload = parse(bytes, boundary).await?;
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
    multer::parse_boundary(value).ok()
}

/// The name a browser sent for a file, without its folder (some send the
/// whole path) or control characters, at most 200 characters.
fn file_name(sent: &str) -> String {
    sent.rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// Parses a whole multipart body.
pub async fn parse(body: axum::body::Bytes, boundary: String) -> Result<Upload, UploadError> {
    let whole = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(whole, boundary);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut files = HashMap::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| UploadError::Malformed)?
    {
        let name = field.name().ok_or(UploadError::Malformed)?.to_owned();
        let sent_name = field.file_name().map(file_name);
        let content = field.bytes().await.map_err(|_| UploadError::Malformed)?;
        match sent_name {
            Some(sent_name) => {
                files.insert(
                    name,
                    UploadedFile {
                        name: sent_name,
                        bytes: content.to_vec(),
                    },
                );
            }
            None => fields.push((name, String::from_utf8_lossy(&content).into_owned())),
        }
    }
    // The text fields as a urlencoded form (the serializer is built after
    // the awaits: it is not `Send`).
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    encoded.extend_pairs(&fields);
    Ok(Upload {
        form: Form::parse(encoded.finish().as_bytes()),
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

    async fn parse(body: Vec<u8>) -> Result<Upload, UploadError> {
        super::parse(body.into(), BOUNDARY.to_owned()).await
    }

    #[tokio::test]
    async fn fields_and_a_file_are_read_as_sent() {
        let csv = "ИНН;Название\r\n7707083893;ООО \"Ромашка\"\r\n".as_bytes();
        let upload = parse(body(&[
            ("kind", None, b"companies"),
            ("file", Some("C:\\exports\\base.csv"), csv),
            ("pairs", None, "ИНН = inn\r\nНазвание = name".as_bytes()),
        ]))
        .await
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

    #[tokio::test]
    async fn an_empty_file_and_a_truncated_body_are_told_apart() {
        let upload = parse(body(&[("file", Some(""), b"")]))
            .await
            .expect("parsed");
        assert_eq!(upload.files["file"].bytes, b"");
        let mut cut = body(&[("file", Some("a.csv"), b"a;b\r\n1;2")]);
        cut.truncate(cut.len() - 20);
        assert_eq!(
            parse(cut).await.err(),
            Some(UploadError::Malformed),
            "no closing boundary"
        );
        assert_eq!(
            parse(b"garbage".to_vec()).await.err(),
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
