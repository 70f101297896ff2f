//! The site's static files, compiled into the binary and served under names that carry a hash of
//! their content (`/static/chat.3f9a1c2b7d4e.js`), so they can be cached forever: a changed file
//! is a new name.

use std::io;
use std::path::Path as FsPath;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

struct Asset {
    /// The name pages use (`chat.js`).
    name: &'static str,
    /// The name it is served under, with the hash.
    served: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        ("chat.js", "text/javascript; charset=utf-8", include_bytes!("static/chat.js").as_slice()),
        ("site.css", "text/css; charset=utf-8", include_bytes!("static/site.css").as_slice()),
        ("icon.svg", "image/svg+xml", include_bytes!("static/icon.svg").as_slice()),
    ]
    .into_iter()
    .map(|(name, content_type, bytes)| {
        let hash = &crate::digest::sha256_hex(bytes)[..12];
        let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
        Asset { name, served: format!("{stem}.{hash}.{extension}"), content_type, bytes }
    })
    .collect()
});

/// The URL of a static file by its plain name, for a template (no escaping needed).
pub fn template_url(name: &str) -> minijinja::Value {
    minijinja::Value::from_safe_string(url(name))
}

/// The URL of a static file by its plain name.
pub fn url(name: &str) -> String {
    let served = ASSETS.iter().find(|asset| asset.name == name).map_or(name, |asset| asset.served.as_str());
    format!("/static/{served}")
}

pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.served == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(crate::media::IMMUTABLE));
    response
}

/// Writes every static file into `dir` under the name it is served by, for a web server in front
/// of Parlor to serve them itself (`parlor export-static`, see deploy/nginx/parlor.conf). Each file
/// is written beside its final name and renamed into place, so a reader never sees half a file;
/// files of earlier versions are left for pages still cached with their names. Returns the names.
pub fn export(dir: &FsPath) -> io::Result<Vec<&'static str>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::with_capacity(ASSETS.len());
    for asset in ASSETS.iter() {
        let partial = dir.join(format!(".{}.partial", asset.served));
        std::fs::write(&partial, asset.bytes)?;
        std::fs::rename(&partial, dir.join(&asset.served))?;
        written.push(asset.served.as_str());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_writes_each_file_under_its_served_name_with_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let names = export(dir.path()).unwrap();
        assert_eq!(names.len(), ASSETS.len());
        for asset in ASSETS.iter() {
            assert_eq!(url(asset.name), format!("/static/{}", asset.served));
            assert_eq!(std::fs::read(dir.path().join(&asset.served)).unwrap(), asset.bytes);
        }
        // Nothing else: no partial file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), ASSETS.len());
        // Exporting again over the same directory is fine (every instance may do it).
        export(dir.path()).unwrap();
    }
}
