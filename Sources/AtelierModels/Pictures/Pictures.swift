import AtelierDevices
import AtelierGraph
import Foundation
/// Sample sheets, as pixels (the loss chart is LossChart).
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

    /// A sheet of images sorted into labelled rows, `columns` wide: each
    /// class's images (`classes[n]` is image n's), in order, on as many rows
    /// as they take, named on the left of its first row (cdcgan's sheets).
    public static func classSheet(_ images: [Float], classes: [Int], names: [String], channels: Int, size: Int,
                                  columns: Int, range: ClosedRange<Float>) throws -> PixelImage {
        let plane = channels * size * size
        var rows: [(label: String, images: [Int])] = []
        for (k, name) in names.enumerated() {
            let members = classes.indices.filter { classes[$0] == k }
            for start in stride(from: 0, to: members.count, by: columns) {
                rows.append((start == 0 ? name : "", Array(members[start..<min(members.count, start + columns)])))
            }
        }
        let width = min(columns, rows.map(\.images.count).max() ?? 1)
        var grid: [Float] = []
        grid.reserveCapacity(rows.count * width * plane)
        for row in rows {
            for cell in 0..<width {
                if cell < row.images.count {
                    grid += images[row.images[cell] * plane..<(row.images[cell] + 1) * plane]
                } else {
                    // An empty cell in the border's gray (96 of 255).
                    grid += repeatElement(range.lowerBound + (range.upperBound - range.lowerBound) * 96 / 255, count: plane)
                }
            }
        }
        let zoom = 2, border = 2
        let picture = sheet(grid, count: rows.count * width, channels: channels, size: size, columns: width, range: range, zoom: zoom)
        let fontSize = Double(min(14, max(9, size * zoom / 4)))
        let measure = try Canvas(width: 1, height: 1)
        let labelWidth = Int((names.map { measure.textWidth($0, size: fontSize) }.max() ?? 0).rounded(.up)) + 16
        let canvas = try Canvas(width: labelWidth + picture.width, height: picture.height, background: Colour(245, 245, 245))
        canvas.place(picture, x: labelWidth, y: 0)
        for (r, row) in rows.enumerated() where !row.label.isEmpty {
            let middle = Double(((size + border) * r + border + size / 2) * zoom)
            canvas.text(row.label, x: Double(labelWidth - 8), y: middle + fontSize * 0.35, size: fontSize, align: .right)
        }
        return canvas.image(gray: picture.channels == 1)
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

    /// A grid spacing of 1, 2 or 5 times a power of ten giving 4 to 10 lines over `span`.
    static func gridStep(_ span: Double) -> Double {
        guard span.isFinite, span > 0 else { return 1 }
        let rough = span / 6
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let leading = rough / magnitude
        return (leading < 1.5 ? 1 : leading < 3.5 ? 2 : leading < 7.5 ? 5 : 10) * magnitude
    }
}
