//! Times Parlor's avatar pipeline on one JPEG: header check, decode, and the whole pipeline
//! (decode, orientation, original re-encoded, 400/100/50 squares), single-threaded, in process.
//!
//!     cargo run --release --example avatar_pipeline -- PHOTO.jpg [RUNS]
//!
//! With a path that does not exist, a 4000×3000 (12-megapixel) photo-like JPEG is written there
//! first: smooth gradients with fine noise, which compresses like a camera picture.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use parlor::media::image::{PipelineLimits, decode, inspect, process};

fn photo(path: &Path) {
    let (width, height) = (4000u32, 3000u32);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 24) as i32 - 12;
        let channel = |base: i32| u8::try_from((base + noise).clamp(0, 255)).unwrap();
        let (fx, fy) = (f64::from(x) / f64::from(width), f64::from(y) / f64::from(height));
        let wave = ((fx * 9.0).sin() * (fy * 7.0).cos() * 60.0) as i32;
        image::Rgb([channel(90 + (fx * 120.0) as i32 + wave), channel(80 + (fy * 100.0) as i32), channel(150 - wave)])
    });
    image.save_with_format(path, image::ImageFormat::Jpeg).unwrap();
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    (median(samples.clone()), samples.into_iter().min().unwrap())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: avatar_pipeline PHOTO.jpg [RUNS]");
    let runs: usize = args.next().map_or(10, |n| n.parse().expect("RUNS is a number"));
    let path = Path::new(&path);
    if !path.exists() {
        photo(path);
    }
    let bytes = std::fs::read(path).unwrap();
    let limits = PipelineLimits { max_pixels: 40_000_000, jpeg_quality: 85 };
    let (format, width, height) = inspect(&bytes, limits.max_pixels).unwrap();
    println!("input: {} ({format:?}, {width}×{height}, {} bytes), {runs} runs", path.display(), bytes.len());

    let (med, min) = time(runs * 10, || inspect(&bytes, limits.max_pixels).unwrap());
    println!("header check:   median {:>8.3} ms   min {:>8.3} ms", ms(med), ms(min));
    let (med, min) = time(runs, || decode(&bytes, limits).unwrap());
    println!("decode only:    median {:>8.1} ms   min {:>8.1} ms", ms(med), ms(min));
    let (med, min) = time(runs, || process(&bytes, limits).unwrap());
    println!("full pipeline:  median {:>8.1} ms   min {:>8.1} ms", ms(med), ms(min));
    let variants = process(&bytes, limits).unwrap();
    for v in &variants {
        println!("  {:<8} {:>5}×{:<5} {:>9} bytes", v.name, v.width, v.height, v.jpeg.len());
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
