import AtelierDevices
import AtelierGraph
import Foundation

/// edges2fashion: a paired sketch -> garment set made from Fashion-MNIST,
/// in junyanz's aligned layout (train/ 60,000 pairs, test/ 10,000), like
/// edges2shoes. Each picture holds A, the garment's outline drawing (black
/// lines on white), left of B, the garment (Fashion-MNIST's gray image,
/// bilinearly enlarged to `size`). File names carry the split index and
/// the class: `train/01234_7_sneaker.png`.
public struct Edges2Fashion: Sendable {
    /// The side of each half: 32, 64, 128 or 256.
    public var size: Int
    /// The edge detector's recipe at this size.
    public var detector: EdgeDetector
    /// Outline thickness: edges are widened by this many pixels each way.
    public var lineRadius: Int

    public static let sizes = [32, 64, 128, 256]

    public init(size: Int) throws {
        guard Self.sizes.contains(size) else {
            throw DatasetError("--size \(size): edges2fashion is made at \(Self.sizes.map(String.init).joined(separator: ", ")) pixels")
        }
        self.size = size
        // Smoothing grows with the enlargement (the 28-pixel source's own
        // detail sets the scale); lines thicken above 64 px so they keep
        // the look of a pen stroke.
        detector = EdgeDetector(sigma: 0.6 * Double(size) / 28, low: 0.1, high: 0.25)
        lineRadius = size / 128
    }

    /// The pair of one Fashion-MNIST image (28x28 bytes): outline | garment,
    /// as one gray picture 2 x size wide.
    public func pair(_ garment28: ArraySlice<UInt8>) -> PixelImage {
        let source = PixelImage(width: 28, height: 28, channels: 1, pixels: Array(garment28))
        let garment = Resample.resize(source, width: size, height: size)
        let edges = detector.edges(garment.pixels.map(Float.init), width: size, height: size)
        var pixels = [UInt8](repeating: 255, count: 2 * size * size)
        for y in 0..<size {
            for x in 0..<size {
                pixels[y * 2 * size + size + x] = garment.pixels[y * size + x]
                guard edges[y * size + x] else { continue }
                for dy in -lineRadius...lineRadius {
                    for dx in -lineRadius...lineRadius {
                        let (px, py) = (x + dx, y + dy)
                        if px >= 0 && py >= 0 && px < size && py < size { pixels[py * 2 * size + px] = 0 }
                    }
                }
            }
        }
        return PixelImage(width: 2 * size, height: size, channels: 1, pixels: pixels)
    }

    /// A class name as it appears in file names ("T-shirt/top" -> "t-shirt-top").
    static func slug(_ name: String) -> String {
        String(name.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
    }

    /// Writes both splits under `out` (the first `limit` images of each, if
    /// given) and a recipe.json with the detector's parameters. `progress`
    /// gets (pairs written, pairs in all).
    public func write(to out: String, fashionMNIST: String = FashionMNIST.defaultDirectory, limit: Int? = nil,
                      progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws {
        let splits = [("train", try FashionMNIST.load(directory: fashionMNIST, train: true)),
                      ("test", try FashionMNIST.load(directory: fashionMNIST, train: false))]
        let total = splits.reduce(0) { $0 + min($1.1.count, limit ?? .max) }
        let root = URL(fileURLWithPath: out)
        let done = Counter()
        for (split, data) in splits {
            let dir = root.appendingPathComponent(split)
            do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw DatasetError("cannot create \(dir.path): \(FileErrorText.reason(error)); choose another --out")
            }
            let count = min(data.count, limit ?? .max)
            let failures = Slots<Void>(count: count)
            let width = String(data.count - 1).count
            DispatchQueue.concurrentPerform(iterations: count) { i in
                let name = String(repeating: "0", count: max(0, width - String(i).count)) + "\(i)_\(data.labels[i])_\(Self.slug(data.classNames[data.labels[i]])).png"
                failures.set(i, Result { try PNG.write(pair(data.images[i * 784..<(i + 1) * 784]), to: dir.appendingPathComponent(name).path) })
                progress(done.increment(), total)
            }
            for case .failure(let e)? in failures.values { throw DatasetError("writing \(dir.path) failed: \(e)") }
        }
        let recipe: [String: Any] = [
            "source": fashionMNIST, "size": size, "layout": "aligned: A (outline) | B (garment)",
            "garment": "Fashion-MNIST 28x28 gray, bilinear to \(size)x\(size)",
            "edges": ["detector": "Canny: Gaussian smoothing, Sobel, non-maximum suppression, hysteresis",
                      "sigma": detector.sigma, "low": detector.low, "high": detector.high,
                      "thresholds": "fractions of each picture's largest gradient", "line_radius": lineRadius],
            "files": "SPLIT/INDEX_CLASS_NAME.png", "classes": FashionMNIST.classNames,
        ]
        let json = try JSONSerialization.data(withJSONObject: recipe, options: [.prettyPrinted, .sortedKeys])
        try ImageFile.writeAtomically(json, to: root.appendingPathComponent("recipe.json").path)
    }
}

/// A thread-safe count of finished items.
final class Counter: @unchecked Sendable {
    // Safe: the value is only touched under the lock.
    private var value = 0
    private let lock = NSLock()
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
