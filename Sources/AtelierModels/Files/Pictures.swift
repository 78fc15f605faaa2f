import AtelierDevices
import AtelierGraph
import Foundation
/// Pictures a run writes: sample sheets and the loss curve, as pixels.
public enum Pictures {
    /// A grid of images (each [C, H, W] in `range`), `columns` wide, with a
    /// 2-pixel gray border, scaled up `zoom` times.
    public static func sheet(_ images: [Float], count: Int, channels: Int, size: Int, columns: Int,
                             range: ClosedRange<Float>, zoom: Int = 2, border: Bool = true) -> PixelImage {
        let rows = (count + columns - 1) / columns
        let pad = border ? 2 : 0
        let cell = size + pad
        let width = (columns * cell + pad) * zoom, height = (rows * cell + pad) * zoom
        let outChannels = channels == 1 ? 1 : 3
        var pixels = [UInt8](repeating: 96, count: width * height * outChannels)
        let scale = 255 / (range.upperBound - range.lowerBound)
        for n in 0..<count {
            let (r, c) = (n / columns, n % columns)
            for y in 0..<size {
                for x in 0..<size {
                    for ch in 0..<outChannels {
                        let v = images[((n * channels + min(ch, channels - 1)) * size + y) * size + x]
                        let byte = UInt8(max(0, min(255, ((v - range.lowerBound) * scale).rounded())))
                        for dy in 0..<zoom {
                            for dx in 0..<zoom {
                                let py = ((r * cell + pad + y) * zoom + dy), px = ((c * cell + pad + x) * zoom + dx)
                                pixels[(py * width + px) * outChannels + ch] = byte
                            }
                        }
                    }
                }
            }
        }
        return PixelImage(width: width, height: height, channels: outChannels, pixels: pixels)
    }

    /// Groups of side-by-side columns (input | output | target), `perRow`
    /// groups to a row: column k holds `count` images [channels[k], size,
    /// size]; gray columns are shown as gray in an RGB sheet when any
    /// column is in colour, and the last row is filled out with white.
    public static func triplets(_ columns: [[Float]], channels: [Int], count: Int, size: Int, range: ClosedRange<Float>,
                                perRow: Int = 1) -> PixelImage {
        let out = channels.max() ?? 1
        let plane = size * size
        let rows = (count + perRow - 1) / perRow
        var images: [Float] = []
        images.reserveCapacity(rows * perRow * columns.count * out * plane)
        for n in 0..<rows * perRow {
            for (column, c) in zip(columns, channels) {
                for ch in 0..<out {
                    if n < count {
                        let source = (n * c + min(ch, c - 1)) * plane
                        images += column[source..<source + plane]
                    } else {
                        images += repeatElement(range.upperBound, count: plane)
                    }
                }
            }
        }
        return sheet(images, count: rows * perRow * columns.count, channels: out, size: size, columns: columns.count * perRow, range: range)
    }

    /// Loss curves over steps: D in red, G in blue, on a white plot with a
    /// light grid (gridStep apart). Each column shows the mean of its steps.
    /// The colours of the curves, in order (red and blue first: D and G).
    static let curveColours: [(UInt8, UInt8, UInt8)] = [(200, 30, 30), (30, 60, 200), (30, 150, 50), (230, 130, 0),
                                                         (140, 40, 170), (0, 150, 160), (120, 90, 40), (220, 60, 160)]
    public static let curveColourNames = ["red", "blue", "green", "orange", "purple", "teal", "brown", "pink"]

    /// One curve per series (step by step, averaged per pixel column), in
    /// `curveColours`' order, from 0 (or the lowest value, if negative) to a
    /// little above the highest. Values beyond a float's range, infinite or
    /// NaN are drawn at the edge or left out; nothing here loops over the
    /// values' magnitude (a grid every 0.5 did, forever above 1.7e7).
    public static func lossCurve(_ curves: [[Float]], width: Int = 640, height: Int = 320) -> PixelImage {
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        func plot(_ x: Int, _ y: Int, _ rgb: (UInt8, UInt8, UInt8)) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            let i = (y * width + x) * 3
            pixels[i] = rgb.0; pixels[i + 1] = rgb.1; pixels[i + 2] = rgb.2
        }
        let finite = curves.joined().filter(\.isFinite)
        let bottom = min(0, finite.min() ?? 0)
        let top = max(bottom + 2, min(Float.greatestFiniteMagnitude / 2, finite.max() ?? 2) * 1.05)
        // Rows from values, in Double so no span overflows.
        func row(_ value: Float) -> Int {
            let clamped = Double(min(max(value, bottom), top))
            return height - 1 - Int((clamped - Double(bottom)) / (Double(top) - Double(bottom)) * Double(height - 1))
        }
        let step = gridStep(Double(top) - Double(bottom))
        var level = (Double(bottom) / step).rounded(.up) * step
        while level <= Double(top) {
            let y = row(Float(level))
            for x in stride(from: 0, to: width, by: 2) { plot(x, y, (215, 215, 215)) }
            level += step
        }
        for x in 0..<width { plot(x, height - 1, (0, 0, 0)) }
        for y in 0..<height { plot(0, y, (0, 0, 0)) }
        for (index, series) in curves.enumerated() where !series.isEmpty {
            let color = curveColours[index % curveColours.count]
            var previous: Int?
            for x in 0..<width {
                let lo = series.count * x / width, hi = max(lo + 1, series.count * (x + 1) / width)
                let slice = series[lo..<min(hi, series.count)].filter(\.isFinite)
                guard !slice.isEmpty else { continue }
                let mean = slice.reduce(0, +) / Float(slice.count)
                let y = row(mean.isNaN ? top : mean)
                for yy in min(previous ?? y, y)...max(previous ?? y, y) { plot(x, yy, color); plot(x, yy - 1, color) }
                previous = y
            }
        }
        return PixelImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// A grid spacing of 1, 2 or 5 times a power of ten giving 4 to 10 lines over `span`.
    static func gridStep(_ span: Double) -> Double {
        guard span.isFinite, span > 0 else { return 1 }
        let rough = span / 6
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let leading = rough / magnitude
        return (leading < 1.5 ? 1 : leading < 3.5 ? 2 : leading < 7.5 ? 5 : 10) * magnitude
    }
}
