import AtelierDevices
import AtelierGraph
import Foundation

/// Pairs of pictures for image-to-image training, in either of junyanz's
/// layouts (PNG or JPEG, any size, gray or RGB):
/// - aligned: `train/`, `val/`, `test/` of pictures holding A and B side
///   by side (A left), as pix2pix's datasets ship;
/// - parallel: `A/` and `B/` (each with the same splits, or flat) whose
///   pictures pair by file name.
/// A pair is stored as one `ImageDataset` whose channels are the input's
/// then the target's (after `direction`), so crops and flips move both
/// halves alike.
public struct PairedImages: Sendable {
    /// Each pair as one picture: the input's channels, then the target's.
    public let pairs: ImageDataset
    /// Channels of the inputs.
    public let inputChannels: Int
    /// Channels of the targets.
    public let targetChannels: Int
    /// The file of each pair (its name carries a label in edges2fashion).
    public let names: [String]
    /// Each pair left out, with why.
    public let skipped: [String]

    /// Pairs held.
    public var count: Int { pairs.count }

    /// Pairs `indices` as input and target batches in [-1, 1], cropped to
    /// `size` (random with `randomCrop`) and mirrored (with `flip`) alike.
    public func batch(_ indices: ArraySlice<Int>, size: Int, randomCrop: Bool, flip: Bool,
                      random: inout RandomGenerator) -> (input: [Float], target: [Float]) {
        let both = pairs.batch(indices, range: -1...1, size: size, randomCrop: randomCrop, flip: flip, random: &random)
        let plane = size * size, per = (inputChannels + targetChannels) * plane
        var input = [Float](), target = [Float]()
        input.reserveCapacity(indices.count * inputChannels * plane)
        target.reserveCapacity(indices.count * targetChannels * plane)
        for n in 0..<indices.count {
            input += both[n * per..<n * per + inputChannels * plane]
            target += both[n * per + inputChannels * plane..<(n + 1) * per]
        }
        return (input, target)
    }
}

/// pix2pix's data: junyanz's aligned layout (each picture the input and the
/// target side by side, in `train/`, `val/`, `test/`) or `A/` and `B/` folders of
/// matching names, read as pairs.
public enum PairedFolder {
    /// Which layout a folder has, and the folders of a split.
    enum Layout {
        case aligned(URL)
        case parallel(a: URL, b: URL)
    }

    /// The splits a folder offers, in junyanz's names.
    public static func splits(_ root: String) -> [String] {
        ["train", "val", "test"].filter { (try? layout(root, split: $0)) != nil }
    }

    /// Loads `split` of `root`. `preprocessing.size` and `loadSize` apply to
    /// each half; `exact` (junyanz's --preprocess none) takes halves as they
    /// are and refuses any of another size. `channels` forces the input's and
    /// target's channels (nil: RGB when any picture of that side is).
    public static func load(_ root: String, split: String, reversed: Bool, loadSize: Int, exact: Bool,
                            channels: (input: Int?, target: Int?) = (nil, nil), skipBadImages: Bool = false,
                            limit: Int? = nil) throws -> PairedImages {
        let all = try pairFiles(root, split: split, skipBadImages: skipBadImages)
        let files = limit.map { Array(all.prefix($0)) } ?? all
        let results = Slots<(PixelImage, PixelImage)>(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            results.set(i, Result { try halves(files[i].a, files[i].b, loadSize: loadSize, exact: exact) })
        }
        var loaded: [(PixelImage, PixelImage, String)] = []
        var bad: [String] = []
        for (i, result) in results.values.enumerated() {
            switch result! {
            case .success(let (a, b)): loaded.append(reversed ? (b, a, files[i].name) : (a, b, files[i].name))
            case .failure(let e): bad.append("\(e)")
            }
        }
        if !bad.isEmpty && !skipBadImages {
            let shown = bad.prefix(5).joined(separator: "\n  ")
            throw DatasetError("\(bad.count) of \(files.count) pairs in \(root) (\(split)) cannot be used:\n  \(shown)\(bad.count > 5 ? "\n  ..." : "")\nfix or remove them, or pass --skip-bad-images to train without them")
        }
        guard !loaded.isEmpty else { throw DatasetError("none of the \(files.count) pairs in \(root) (\(split)) can be used (the first: \(bad.first ?? "?"))") }
        let cIn = channels.input ?? (loaded.contains { $0.0.channels == 3 } ? 3 : 1)
        let cOut = channels.target ?? (loaded.contains { $0.1.channels == 3 } ? 3 : 1)
        let side = loaded[0].0.width
        var bytes: [UInt8] = []
        bytes.reserveCapacity(loaded.count * (cIn + cOut) * side * side)
        for (a, b, _) in loaded {
            bytes += Resample.planar(Resample.channels(a, cIn))
            bytes += Resample.planar(Resample.channels(b, cOut))
        }
        let dataset = ImageDataset(images: bytes, labels: [Int](repeating: 0, count: loaded.count), count: loaded.count,
                                   channels: cIn + cOut, height: side, width: side, classNames: [], source: "\(root) (\(split))")
        return PairedImages(pairs: dataset, inputChannels: cIn, targetChannels: cOut, names: loaded.map(\.2), skipped: bad)
    }

    /// The side of the first pair's A half, when it is a size pix2pix is
    /// built for (edges2fashion at 64 px trains at 64 px); else 256, junyanz's.
    public static func defaultSize(_ root: String) throws -> Int {
        guard let first = try pairFiles(root, split: "train", skipBadImages: true).first,
              let (a, _) = try? halves(first.a, first.b, loadSize: 0, exact: true, checkSize: false) else { return 256 }
        return ModelConfig.supportedSizes(.pix2pix).contains(a.height) ? a.height : 256
    }

    /// The picture files of a split: aligned (b nil) or A/B matched by name.
    static func pairFiles(_ root: String, split: String, skipBadImages: Bool) throws -> [(a: URL, b: URL?, name: String)] {
        let files: [(a: URL, b: URL?, name: String)]
        switch try layout(root, split: split) {
        case .aligned(let dir):
            files = try pictures(in: dir).map { ($0, nil, $0.lastPathComponent) }
        case .parallel(let a, let b):
            let left = try pictures(in: a), right = try pictures(in: b)
            let byName = Dictionary(right.map { ($0.deletingPathExtension().lastPathComponent, $0) }, uniquingKeysWith: { x, _ in x })
            var matched: [(URL, URL?, String)] = []
            var unmatched: [String] = []
            for url in left {
                let stem = url.deletingPathExtension().lastPathComponent
                if let partner = byName[stem] { matched.append((url, partner, url.lastPathComponent)) } else { unmatched.append(url.lastPathComponent) }
            }
            guard unmatched.isEmpty || skipBadImages else {
                throw DatasetError("\(unmatched.count) pictures of \(a.path) have no picture of the same name in \(b.path) (the first: \(unmatched[0])); add them, remove them, or pass --skip-bad-images")
            }
            files = matched
        }
        guard !files.isEmpty else { throw DatasetError("\(root) has no pictures (.png, .jpg, .jpeg) in its \(split) split") }
        return files
    }

    static func layout(_ root: String, split: String) throws -> Layout {
        let fm = FileManager.default
        func isDirectory(_ url: URL) -> Bool {
            var d: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &d) && d.boolValue
        }
        let base = URL(fileURLWithPath: root)
        guard isDirectory(base) else { throw DatasetError("--dataroot \(root) is not a directory") }
        if isDirectory(base.appendingPathComponent(split)) { return .aligned(base.appendingPathComponent(split)) }
        let (a, b) = (base.appendingPathComponent("A"), base.appendingPathComponent("B"))
        if isDirectory(a) && isDirectory(b) {
            let (sa, sb) = (a.appendingPathComponent(split), b.appendingPathComponent(split))
            if isDirectory(sa) && isDirectory(sb) { return .parallel(a: sa, b: sb) }
            // Flat A/ and B/ hold one split: the training pairs.
            if split == "train" && !isDirectory(sa) { return .parallel(a: a, b: b) }
        }
        throw DatasetError("\(root) has no \(split)/ folder: paired data comes as junyanz's aligned layout (train/, val/, test/ of pictures with A and B side by side) or as folders A/ and B/ of pictures with matching names; `atelier datasets edges2fashion --out DIR` writes an example")
    }

    private static func pictures(in dir: URL) throws -> [URL] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir.path) } catch {
            throw DatasetError("cannot list \(dir.path): \(FileErrorText.reason(error))")
        }
        return names.filter { !$0.hasPrefix(".") && ImageFile.extensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .sorted().map { dir.appendingPathComponent($0) }
    }

    /// The A and B halves of one pair, each resized to `loadSize` squared
    /// (or, `exact`, checked to be that size).
    static func halves(_ a: URL, _ b: URL?, loadSize: Int, exact: Bool, checkSize: Bool = true) throws -> (PixelImage, PixelImage) {
        var left = try ImageFile.read(a.path)
        var right: PixelImage
        if let b {
            right = try ImageFile.read(b.path)
        } else {
            guard left.width % 2 == 0 else {
                throw DatasetError("\(a.path) is \(left.width)x\(left.height): an aligned pair is two halves of equal width side by side (A left, B right), so its width must be even")
            }
            let half = left.width / 2
            right = Resample.crop(left, x: half, y: 0, width: half, height: left.height)
            left = Resample.crop(left, x: 0, y: 0, width: half, height: left.height)
        }
        if !checkSize { return (left, right) }
        if exact {
            for (p, side) in [(left, "A"), (right, "B")] where p.width != loadSize || p.height != loadSize {
                throw DatasetError("\(a.path): its \(side) half is \(p.width)x\(p.height), not \(loadSize)x\(loadSize) as --preprocess none needs; resize the pictures or drop --preprocess none")
            }
            return (left, right)
        }
        // junyanz resizes each half to a square, whatever its aspect.
        return (Resample.resize(left, width: loadSize, height: loadSize), Resample.resize(right, width: loadSize, height: loadSize))
    }
}

/// One slot per index, each written by exactly one iteration of a
/// concurrentPerform; read only after it returns.
final class Slots<T>: @unchecked Sendable {
    // Safe: every index is written once, by one thread, before any read.
    private let slots: UnsafeMutableBufferPointer<Result<T, Error>?>
    init(count: Int) { slots = .allocate(capacity: count); slots.initialize(repeating: nil) }
    deinit { slots.deinitialize(); slots.deallocate() }
    func set(_ i: Int, _ value: Result<T, Error>) { slots[i] = value }
    var values: [Result<T, Error>?] { Array(slots) }
}
