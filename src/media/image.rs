//! The image pipeline: untrusted bytes in, metadata-free JPEG variants out.
//!
//! Every check that can be made before decoding is made before decoding: the format is sniffed
//! from the magic bytes (the file name and `Content-Type` are never consulted), and width ×
//! height is read from the header and refused above the pixel cap. A decompression bomb — a
//! small file declaring a huge canvas — is therefore refused after reading a few hundred bytes,
//! and the decoder then runs under `image::Limits` sized to the declared canvas, so a lying
//! header cannot make it allocate more.
//!
//! Decoding applies the EXIF orientation; re-encoding writes pixels only, so EXIF, XMP, ICC
//! and comments (GPS positions included) do not survive.

use std::io::Cursor;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// The square variants, by side length, largest first.
pub const SQUARES: [u32; 3] = [400, 100, 50];

/// An accepted input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    WebP,
}

impl Format {
    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Gif => ImageFormat::Gif,
            Self::WebP => ImageFormat::WebP,
        }
    }
}

/// The format the bytes really are, from their signature; `None` for anything else (SVG, HTML,
/// TIFF, BMP, a polyglot whose first bytes are not an image's…).
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(Format::Jpeg),
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => Some(Format::Png),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(Format::Gif),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(Format::WebP),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the file is empty")]
    Empty,
    #[error("not a JPEG, PNG, WebP or GIF image")]
    Unsupported,
    #[error("the image has no pixels")]
    ZeroSize,
    #[error("the image is {width}×{height} pixels; at most {max} pixels are accepted")]
    TooLarge { width: u32, height: u32, max: u64 },
    #[error("the image could not be decoded: {0}")]
    Corrupt(String),
}

/// One stored rendition: `original` or `<side>x<side>`.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub struct PipelineLimits {
    pub max_pixels: u64,
    pub jpeg_quality: u8,
}

/// Reads only the header: the real format and the declared size, refused above the cap.
pub fn inspect(bytes: &[u8], max_pixels: u64) -> Result<(Format, u32, u32), ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let format = sniff(bytes).ok_or(ImageError::Unsupported)?;
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format.image_format())
        .into_dimensions()
        .map_err(|err| ImageError::Corrupt(err.to_string()))?;
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroSize);
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageError::TooLarge { width, height, max: max_pixels });
    }
    Ok((format, width, height))
}

/// Decodes with the orientation applied, under limits sized to the declared canvas.
pub fn decode(bytes: &[u8], limits: PipelineLimits) -> Result<DynamicImage, ImageError> {
    let (format, width, height) = inspect(bytes, limits.max_pixels)?;
    let corrupt = |err: image::ImageError| ImageError::Corrupt(err.to_string());
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(width);
    decoder_limits.max_image_height = Some(height);
    // The canvas at up to 16-bit RGBA, plus the decoder's own working memory.
    decoder_limits.max_alloc = Some(u64::from(width) * u64::from(height) * 8 + 64 * 1024 * 1024);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Decodes, orients, strips and renders the original plus the centre-cropped squares.
pub fn process(bytes: &[u8], limits: PipelineLimits) -> Result<Vec<Variant>, ImageError> {
    let rgb = flatten(decode(bytes, limits)?);
    let (width, height) = rgb.dimensions();
    let mut variants = Vec::with_capacity(1 + SQUARES.len());
    variants.push(Variant { name: "original".to_owned(), width, height, jpeg: encode(&rgb, limits.jpeg_quality)? });

    let side = width.min(height);
    let crop = (f64::from((width - side) / 2), f64::from((height - side) / 2), f64::from(side), f64::from(side));
    let source = ImageRef::new(width, height, rgb.as_raw(), PixelType::U8x3).map_err(internal)?;
    let mut resizer = Resizer::new();
    // The largest square comes from the original; each smaller one from the previous square,
    // which is quicker and, at these ratios, indistinguishable.
    let mut previous: Option<Image<'static>> = None;
    for size in SQUARES {
        let mut square = Image::new(size, size, PixelType::U8x3);
        let lanczos = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        match &previous {
            None => resizer.resize(&source, &mut square, &lanczos.crop(crop.0, crop.1, crop.2, crop.3)),
            Some(larger) => resizer.resize(larger, &mut square, &lanczos),
        }
        .map_err(internal)?;
        let pixels = RgbImage::from_raw(size, size, square.buffer().to_vec())
            .ok_or_else(|| ImageError::Corrupt("resize produced a short buffer".to_owned()))?;
        variants.push(Variant {
            name: format!("{size}x{size}"),
            width: size,
            height: size,
            jpeg: encode(&pixels, limits.jpeg_quality)?,
        });
        previous = Some(square);
    }
    Ok(variants)
}

/// Longest side of an attachment's preview.
pub const PREVIEW_SIDE: u32 = 400;

/// An image attachment: the original (oriented, stripped, as JPEG) and a preview that fits in
/// [`PREVIEW_SIDE`]² with its aspect kept (never enlarged).
pub fn attachment(bytes: &[u8], limits: PipelineLimits) -> Result<[Variant; 2], ImageError> {
    let rgb = flatten(decode(bytes, limits)?);
    let (width, height) = rgb.dimensions();
    let original = Variant { name: "original".to_owned(), width, height, jpeg: encode(&rgb, limits.jpeg_quality)? };
    let scale = (f64::from(PREVIEW_SIDE) / f64::from(width.max(height))).min(1.0);
    // Both sides at least one pixel, however thin the image.
    let (pw, ph) =
        (((f64::from(width) * scale).round() as u32).max(1), ((f64::from(height) * scale).round() as u32).max(1));
    let source = ImageRef::new(width, height, rgb.as_raw(), PixelType::U8x3).map_err(internal)?;
    let mut preview = Image::new(pw, ph, PixelType::U8x3);
    let lanczos = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(&source, &mut preview, &lanczos).map_err(internal)?;
    let pixels = RgbImage::from_raw(pw, ph, preview.buffer().to_vec())
        .ok_or_else(|| ImageError::Corrupt("resize produced a short buffer".to_owned()))?;
    let preview =
        Variant { name: "preview".to_owned(), width: pw, height: ph, jpeg: encode(&pixels, limits.jpeg_quality)? };
    Ok([original, preview])
}

/// 8-bit RGB; transparent pixels are composed over white, since JPEG has no alpha.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (width, height) = rgba.dimensions();
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for pixel in rgba.pixels() {
        let [r, g, b, a] = pixel.0;
        let alpha = u16::from(a);
        for channel in [r, g, b] {
            // c·α + 255·(1 − α), rounded, in integers.
            let blended = (u16::from(channel) * alpha + 255 * (255 - alpha) + 127) / 255;
            rgb.push(u8::try_from(blended).unwrap_or(u8::MAX));
        }
    }
    RgbImage::from_raw(width, height, rgb).unwrap_or_else(|| RgbImage::new(width, height))
}

/// Baseline JPEG, 4:2:0 below quality 90 (as libjpeg and libvips do), with nothing but a JFIF
/// header: no EXIF, XMP, ICC or comments. `jpeg-encoder` (SIMD) is about three times as fast
/// as `image`'s own encoder on a 12-megapixel original.
fn encode(image: &RgbImage, quality: u8) -> Result<Vec<u8>, ImageError> {
    let too_wide = || ImageError::Corrupt("JPEG allows at most 65535 pixels a side".to_owned());
    let width = u16::try_from(image.width()).map_err(|_| too_wide())?;
    let height = u16::try_from(image.height()).map_err(|_| too_wide())?;
    let mut out = Vec::with_capacity(image.as_raw().len() / 8);
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(image.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|err| ImageError::Corrupt(err.to_string()))?;
    Ok(out)
}

fn internal(err: impl std::fmt::Display) -> ImageError {
    ImageError::Corrupt(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::gif::GifEncoder;
    use image::codecs::png::PngEncoder;
    use image::codecs::webp::WebPEncoder;
    use image::{Delay, ExtendedColorType, Frame, ImageEncoder, Rgb, Rgba, RgbaImage};

    const LIMITS: PipelineLimits = PipelineLimits { max_pixels: 40_000_000, jpeg_quality: 90 };
    const RED: [u8; 3] = [255, 0, 0];
    const BLUE: [u8; 3] = [0, 0, 255];
    const GREEN: [u8; 3] = [0, 255, 0];

    /// An image whose columns are split evenly into the given colours, left to right.
    fn stripes(width: u32, height: u32, colours: &[[u8; 3]]) -> RgbImage {
        let n = u32::try_from(colours.len()).unwrap();
        RgbImage::from_fn(width, height, |x, _| Rgb(colours[(x * n / width) as usize]))
    }

    fn png(image: &RgbaImage) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgba8)
            .unwrap();
        out
    }

    fn jpeg(image: &RgbImage) -> Vec<u8> {
        encode(image, 95).unwrap()
    }

    /// A JPEG carrying an EXIF block with an orientation and an ImageDescription, which stands
    /// in for any personal metadata (GPS, camera serial…).
    fn jpeg_with_exif(image: &RgbImage, orientation: u16, description: &str) -> Vec<u8> {
        let text = [description.as_bytes(), b"\0"].concat();
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend_from_slice(&2u16.to_be_bytes());
        // Orientation: SHORT, one value, left-justified in the value field.
        tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        // ImageDescription: ASCII, stored after the IFD.
        tiff.extend_from_slice(&[0x01, 0x0E, 0, 2]);
        tiff.extend_from_slice(&u32::try_from(text.len()).unwrap().to_be_bytes());
        tiff.extend_from_slice(&38u32.to_be_bytes());
        tiff.extend_from_slice(&0u32.to_be_bytes());
        tiff.extend_from_slice(&text);
        let payload = [b"Exif\0\0".as_slice(), &tiff].concat();
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        segment.extend_from_slice(&payload);
        let plain = jpeg(image);
        [&plain[..2], &segment, &plain[2..]].concat()
    }

    fn decode_jpeg(bytes: &[u8]) -> RgbImage {
        image::load_from_memory_with_format(bytes, ImageFormat::Jpeg).unwrap().into_rgb8()
    }

    fn variant<'a>(variants: &'a [Variant], name: &str) -> &'a Variant {
        variants.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no {name}"))
    }

    #[track_caller]
    fn assert_near(actual: &Rgb<u8>, expected: [u8; 3]) {
        let off = actual.0.iter().zip(expected).map(|(a, e)| a.abs_diff(e)).max().unwrap();
        assert!(off < 40, "{actual:?} is not close to {expected:?}");
    }

    #[test]
    fn every_variant_has_its_size_and_is_a_jpeg() {
        let source = png(&image::DynamicImage::ImageRgb8(stripes(300, 200, &[RED])).into_rgba8());
        let variants = process(&source, LIMITS).unwrap();
        let sizes: Vec<(&str, u32, u32)> = variants.iter().map(|v| (v.name.as_str(), v.width, v.height)).collect();
        assert_eq!(sizes, [("original", 300, 200), ("400x400", 400, 400), ("100x100", 100, 100), ("50x50", 50, 50)]);
        for v in &variants {
            assert_eq!(sniff(&v.jpeg), Some(Format::Jpeg));
            assert_eq!(decode_jpeg(&v.jpeg).dimensions(), (v.width, v.height), "{}", v.name);
        }
    }

    #[test]
    fn squares_are_cropped_from_the_centre() {
        // Wide: green | red | blue — the centre square is all red.
        let wide = jpeg(&stripes(300, 100, &[GREEN, RED, BLUE]));
        // Tall: the same, turned on its side.
        let tall = jpeg(&image::imageops::rotate90(&stripes(300, 100, &[GREEN, RED, BLUE])));
        for source in [wide, tall] {
            let variants = process(&source, LIMITS).unwrap();
            for name in ["400x400", "100x100", "50x50"] {
                let square = decode_jpeg(&variant(&variants, name).jpeg);
                let side = square.width();
                for (x, y) in [
                    (side / 10, side / 2),
                    (side / 2, side / 10),
                    (side - 1 - side / 10, side / 2),
                    (side / 2, side / 2),
                ] {
                    assert_near(square.get_pixel(x, y), RED);
                }
            }
        }
    }

    #[test]
    fn exif_orientation_is_applied_and_all_metadata_is_stripped() {
        // 40×20, red left, blue right; orientation 6 means "rotate 90° clockwise to view".
        let source = jpeg_with_exif(&stripes(40, 20, &[RED, BLUE]), 6, "GPS 52.3731N 4.8922E secret-marker");
        assert!(source.windows(13).any(|w| w == b"secret-marker"));
        let variants = process(&source, LIMITS).unwrap();
        let original = variant(&variants, "original");
        assert_eq!((original.width, original.height), (20, 40));
        let upright = decode_jpeg(&original.jpeg);
        assert_near(upright.get_pixel(10, 5), RED);
        assert_near(upright.get_pixel(10, 35), BLUE);
        for v in &variants {
            assert!(!v.jpeg.windows(13).any(|w| w == b"secret-marker"), "{} kept the description", v.name);
            assert!(!v.jpeg.windows(4).any(|w| w == b"Exif"), "{} kept an EXIF block", v.name);
        }
    }

    #[test]
    fn transparency_becomes_white() {
        let mut image = RgbaImage::from_pixel(10, 10, Rgba([0, 0, 0, 0]));
        image.put_pixel(0, 0, Rgba([255, 0, 0, 255]));
        let variants = process(&png(&image), LIMITS).unwrap();
        let original = decode_jpeg(&variant(&variants, "original").jpeg);
        assert_near(original.get_pixel(8, 8), [255, 255, 255]);
    }

    #[test]
    fn a_gif_gives_its_first_frame_and_webp_is_accepted() {
        let mut gif = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut gif);
            for colour in [RED, BLUE] {
                let frame = image::DynamicImage::ImageRgb8(stripes(16, 16, &[colour])).into_rgba8();
                encoder.encode_frame(Frame::from_parts(frame, 0, 0, Delay::from_numer_denom_ms(100, 1))).unwrap();
            }
        }
        assert_eq!(sniff(&gif), Some(Format::Gif));
        let first = decode_jpeg(&variant(&process(&gif, LIMITS).unwrap(), "original").jpeg);
        assert_near(first.get_pixel(8, 8), RED);

        let mut webp = Vec::new();
        let green = image::DynamicImage::ImageRgb8(stripes(16, 16, &[GREEN])).into_rgba8();
        WebPEncoder::new_lossless(&mut webp).write_image(green.as_raw(), 16, 16, ExtendedColorType::Rgba8).unwrap();
        assert_eq!(sniff(&webp), Some(Format::WebP));
        let decoded = decode_jpeg(&variant(&process(&webp, LIMITS).unwrap(), "original").jpeg);
        assert_near(decoded.get_pixel(8, 8), GREEN);
    }

    /// A valid PNG header declaring `width` × `height`, then the start of an image-data chunk
    /// with next to nothing in it: what a decompression bomb looks like up to its payload.
    fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(&ihdr);
        out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        let idat = b"IDAT\x78\x9c";
        out.extend_from_slice(&2u32.to_be_bytes());
        out.extend_from_slice(idat);
        out.extend_from_slice(&crc32(idat).to_be_bytes());
        out
    }

    /// CRC-32 (ISO-HDLC), as PNG chunks use.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let bomb = png_header_only(100_000, 100_000);
        assert!(bomb.len() < 64, "{}", bomb.len());
        assert_eq!(
            process(&bomb, LIMITS).unwrap_err(),
            ImageError::TooLarge { width: 100_000, height: 100_000, max: 40_000_000 }
        );
        // Just over the cap is refused too; the cap is width × height, not either side.
        assert!(matches!(process(&png_header_only(8000, 5001), LIMITS), Err(ImageError::TooLarge { .. })));
        assert!(matches!(process(&png_header_only(40_000_001, 1), LIMITS), Err(ImageError::TooLarge { .. })));
    }

    #[test]
    fn empty_truncated_and_zero_sized_images_are_refused() {
        assert_eq!(process(b"", LIMITS).unwrap_err(), ImageError::Empty);
        let whole = png(&image::DynamicImage::ImageRgb8(stripes(64, 64, &[RED, BLUE])).into_rgba8());
        assert!(matches!(process(&whole[..whole.len() / 2], LIMITS), Err(ImageError::Corrupt(_))));
        assert!(matches!(process(&whole[..20], LIMITS), Err(ImageError::Corrupt(_))));
        assert!(matches!(process(&png_header_only(0, 10), LIMITS), Err(ImageError::Corrupt(_) | ImageError::ZeroSize)));
        // A header with a plausible size but no pixel data at all.
        assert!(matches!(process(&png_header_only(10, 10), LIMITS), Err(ImageError::Corrupt(_))));
    }

    #[test]
    fn svg_html_and_other_formats_are_refused_whatever_they_claim() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
        let html_around_png = [b"<html><body>".as_slice(), &png_header_only(10, 10)].concat();
        let bmp = b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0";
        for bytes in [svg.as_slice(), &html_around_png, bmp, b"GIF8", b"RIFF\0\0\0\0WAVE"] {
            assert_eq!(process(bytes, LIMITS).unwrap_err(), ImageError::Unsupported, "{:?}", &bytes[..4]);
        }
    }

    #[test]
    fn a_polyglot_keeps_nothing_but_its_pixels() {
        // A real PNG with a script appended: it decodes, and the re-encoded output drops the rest.
        let image = png(&image::DynamicImage::ImageRgb8(stripes(32, 32, &[GREEN])).into_rgba8());
        let polyglot = [image.as_slice(), b"<script>alert(document.cookie)</script>"].concat();
        let variants = process(&polyglot, LIMITS).unwrap();
        for v in &variants {
            assert!(!v.jpeg.windows(7).any(|w| w == b"<script"), "{}", v.name);
        }
        // A GIF signature in front of something that is not a GIF does not decode.
        let fake_gif = b"GIF89a\x01\x00\x01\x00<script>alert(1)</script>".to_vec();
        assert!(matches!(process(&fake_gif, LIMITS), Err(ImageError::Corrupt(_))));
    }

    #[test]
    fn small_images_are_scaled_up_to_every_square() {
        let tiny = jpeg(&stripes(8, 8, &[BLUE]));
        let variants = process(&tiny, LIMITS).unwrap();
        assert_eq!((variant(&variants, "400x400").width, variant(&variants, "original").width), (400, 8));
    }
}
