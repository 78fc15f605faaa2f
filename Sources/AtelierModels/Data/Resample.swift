import AtelierDevices
import AtelierGraph
/// Resizing 8-bit pictures: area averaging when shrinking (every source
/// pixel counts, so fine fabric texture does not alias into moiré) and
/// bilinear interpolation with half-pixel centres when enlarging (as PIL and
/// torchvision do). Separable: rows first, then columns, in Float.
enum Resample {
    /// Source indices and weights of each output index along one axis.
    private struct Taps {
        var start: [Int] = []
        var weights: [[Float]] = []
    }

    private static func taps(from source: Int, to target: Int) -> Taps {
        var taps = Taps()
        let scale = Double(source) / Double(target)
        for o in 0..<target {
            if scale > 1 {
                // The output pixel covers [o*scale, (o+1)*scale) of the source.
                let (lo, hi) = (Double(o) * scale, Double(o + 1) * scale)
                let first = Int(lo), last = min(source - 1, Int((hi - 1e-9).rounded(.down)))
                var w: [Float] = []
                for i in first...last {
                    w.append(Float((min(hi, Double(i + 1)) - max(lo, Double(i))) / scale))
                }
                taps.start.append(first)
                taps.weights.append(w)
            } else {
                let centre = max(0, (Double(o) + 0.5) * scale - 0.5)
                let i0 = min(source - 1, Int(centre)), f = Float(centre - Double(i0))
                if i0 + 1 < source && f > 0 {
                    taps.start.append(i0)
                    taps.weights.append([1 - f, f])
                } else {
                    taps.start.append(i0)
                    taps.weights.append([1])
                }
            }
        }
        return taps
    }

    /// `p` resized to width x height (same channels).
    static func resize(_ p: PixelImage, width: Int, height: Int) -> PixelImage {
        if p.width == width && p.height == height { return p }
        let c = p.channels
        let (tx, ty) = (taps(from: p.width, to: width), taps(from: p.height, to: height))
        // Rows: [p.height][width * c].
        var rows = [Float](repeating: 0, count: p.height * width * c)
        for y in 0..<p.height {
            for x in 0..<width {
                for (k, w) in tx.weights[x].enumerated() {
                    let s = (y * p.width + tx.start[x] + k) * c, o = (y * width + x) * c
                    for ch in 0..<c { rows[o + ch] += w * Float(p.pixels[s + ch]) }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: height * width * c)
        var line = [Float](repeating: 0, count: width * c)
        for y in 0..<height {
            for i in line.indices { line[i] = 0 }
            for (k, w) in ty.weights[y].enumerated() {
                let s = (ty.start[y] + k) * width * c
                for i in 0..<width * c { line[i] += w * rows[s + i] }
            }
            for i in 0..<width * c { out[y * width * c + i] = UInt8(max(0, min(255, line[i].rounded()))) }
        }
        return PixelImage(width: width, height: height, channels: c, pixels: out)
    }

    /// The shorter side resized to `side`, then the centre square of it.
    static func squareCentre(_ p: PixelImage, side: Int) -> PixelImage {
        let scale = Double(side) / Double(min(p.width, p.height))
        let (w, h) = (max(side, Int((Double(p.width) * scale).rounded())), max(side, Int((Double(p.height) * scale).rounded())))
        return crop(resize(p, width: w, height: h), x: (w - side) / 2, y: (h - side) / 2, width: side, height: side)
    }

    static func crop(_ p: PixelImage, x: Int, y: Int, width: Int, height: Int) -> PixelImage {
        if x == 0 && y == 0 && width == p.width && height == p.height { return p }
        var out = [UInt8]()
        out.reserveCapacity(width * height * p.channels)
        for row in y..<y + height {
            let s = (row * p.width + x) * p.channels
            out += p.pixels[s..<s + width * p.channels]
        }
        return PixelImage(width: width, height: height, channels: p.channels, pixels: out)
    }

    /// Gray to RGB (repeated) or RGB to gray (ITU-R 601 luma).
    static func channels(_ p: PixelImage, _ channels: Int) -> PixelImage {
        if p.channels == channels { return p }
        let n = p.width * p.height
        if channels == 3 {
            var out = [UInt8](repeating: 0, count: n * 3)
            for i in 0..<n { for c in 0..<3 { out[i * 3 + c] = p.pixels[i] } }
            return PixelImage(width: p.width, height: p.height, channels: 3, pixels: out)
        }
        var out = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            let (r, g, b) = (Float(p.pixels[i * 3]), Float(p.pixels[i * 3 + 1]), Float(p.pixels[i * 3 + 2]))
            out[i] = UInt8(min(255, (0.299 * r + 0.587 * g + 0.114 * b).rounded()))
        }
        return PixelImage(width: p.width, height: p.height, channels: 1, pixels: out)
    }

    /// Interleaved (H, W, C) to planar (C, H, W).
    static func planar(_ p: PixelImage) -> [UInt8] {
        guard p.channels > 1 else { return p.pixels }
        var out = [UInt8](repeating: 0, count: p.pixels.count)
        let plane = p.width * p.height
        for i in 0..<plane { for c in 0..<p.channels { out[c * plane + i] = p.pixels[i * p.channels + c] } }
        return out
    }
}
