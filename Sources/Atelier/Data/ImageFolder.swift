import Foundation

/// A folder of PNG images: class sub-folders give labels (sorted by name);
/// PNGs directly in the folder form one class. Every image is center-cropped
/// to a square and resized to `size` x `size`; the dataset is RGB when any
/// image is in color, else gray.
public enum ImageFolder {
    public static func load(directory: String, size: Int = 28) throws -> ImageDataset {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError("--dataroot \(directory) is not a directory")
        }
        let root = URL(fileURLWithPath: directory)
        let entries = try fm.contentsOfDirectory(atPath: directory).sorted()
        let classDirs = entries.filter { name in
            var d: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
        }
        func pngs(in url: URL) throws -> [URL] {
            try fm.contentsOfDirectory(atPath: url.path).sorted()
                .filter { $0.lowercased().hasSuffix(".png") && !$0.hasPrefix(".") }
                .map { url.appendingPathComponent($0) }
        }
        var files: [(URL, Int)] = []
        var classNames: [String] = []
        if classDirs.isEmpty {
            files = try pngs(in: root).map { ($0, 0) }
            classNames = [root.lastPathComponent]
        } else {
            for (label, name) in classDirs.enumerated() {
                files += try pngs(in: root.appendingPathComponent(name)).map { ($0, label) }
            }
            classNames = classDirs
        }
        guard !files.isEmpty else {
            throw DatasetError("\(directory) holds no .png images (directly or in class sub-folders)")
        }
        let pictures = try files.map { (url, _) in try PNG.read(url.path) }
        let channels = pictures.contains { $0.channels == 3 } ? 3 : 1
        var images: [UInt8] = []
        images.reserveCapacity(files.count * channels * size * size)
        for picture in pictures {
            images += planar(resize(picture, channels: channels, size: size))
        }
        return ImageDataset(images: images, labels: files.map(\.1), count: files.count, channels: channels,
                            height: size, width: size, classNames: classNames, source: directory)
    }

    /// Center square crop, area-averaged to size x size, in `channels`.
    static func resize(_ p: PixelImage, channels: Int, size: Int) -> PixelImage {
        let side = min(p.width, p.height)
        let (x0, y0) = ((p.width - side) / 2, (p.height - side) / 2)
        var out = [UInt8](repeating: 0, count: size * size * channels)
        for oy in 0..<size {
            let sy0 = y0 + oy * side / size, sy1 = max(sy0 + 1, y0 + (oy + 1) * side / size)
            for ox in 0..<size {
                let sx0 = x0 + ox * side / size, sx1 = max(sx0 + 1, x0 + (ox + 1) * side / size)
                var sums = [Float](repeating: 0, count: 3)
                for sy in sy0..<sy1 {
                    for sx in sx0..<sx1 {
                        let i = (sy * p.width + sx) * p.channels
                        for c in 0..<3 { sums[c] += Float(p.pixels[i + min(c, p.channels - 1)]) }
                    }
                }
                let n = Float((sy1 - sy0) * (sx1 - sx0))
                let o = (oy * size + ox) * channels
                if channels == 1 {
                    out[o] = UInt8(((0.299 * sums[0] + 0.587 * sums[1] + 0.114 * sums[2]) / n).rounded())
                } else {
                    for c in 0..<3 { out[o + c] = UInt8((sums[c] / n).rounded()) }
                }
            }
        }
        return PixelImage(width: size, height: size, channels: channels, pixels: out)
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
