import AtelierDevices
import AtelierGraph
import Foundation

/// How pictures become a model's input: the shorter side resized to
/// `loadSize` and the centre square kept (what the dataset stores), then a
/// `size` x `size` crop of it per sample (centred, or random when training
/// with jitter) and an optional horizontal flip.
public struct ImagePreprocessing: Codable, Sendable, Equatable {
    /// The side of the images the model sees.
    public var size: Int
    /// The side pictures are stored at, at least `size`.
    public var loadSize: Int
    /// 1 (gray) or 3 (RGB); nil: 3 when any picture is in colour, else 1.
    public var channels: Int?
    /// A random `size` crop of each stored picture instead of the centre one.
    public var randomCrop: Bool
    /// Mirror each picture left-right with probability 1/2.
    public var flip: Bool

    /// Pictures of side `size`, stored at `loadSize` (default `size`).
    public init(size: Int, loadSize: Int? = nil, channels: Int? = nil, randomCrop: Bool = false, flip: Bool = false) {
        self.size = size
        self.loadSize = loadSize ?? size
        self.channels = channels
        self.randomCrop = randomCrop
        self.flip = flip
    }

    /// Whether batches draw random numbers (crops or flips).
    public var isRandom: Bool { (randomCrop && loadSize > size) || flip }

    /// Refuses sizes out of range and channels other than 1 or 3, naming the option.
    public func validate() throws {
        guard (1...4096).contains(size) else { throw DatasetError("--image-size \(size) is out of range (1...4096)") }
        guard loadSize >= size, loadSize <= 8192 else {
            throw DatasetError("--load-size \(loadSize) must lie between --image-size (\(size)) and 8192")
        }
        if let channels, channels != 1 && channels != 3 {
            throw DatasetError("--channels \(channels): images have 1 (gray) or 3 (RGB) channels")
        }
    }
}

/// A folder of PNG and JPEG pictures (any size; gray, gray+alpha, RGB,
/// RGBA, palette or 16-bit): class sub-folders give labels (sorted by name);
/// pictures directly in the folder form one class.
public enum ImageFolder {
    /// The pictures that could not be read and were left out (with
    /// `skipBadImages`), each with the reason.
    public struct Loaded: Sendable {
        /// The pictures read.
        public let dataset: ImageDataset
        /// Each picture left out, with why.
        public let skipped: [String]
    }

    /// `limit`: only the first pictures (in listing order), e.g. for a sheet.
    public static func load(directory: String, preprocessing: ImagePreprocessing, skipBadImages: Bool = false, limit: Int? = nil) throws -> Loaded {
        try preprocessing.validate()
        let (all, classNames) = try listing(directory)
        let files = limit.map { Array(all.prefix(max($0, 1))) } ?? all
        let count = files.count
        let results = Slots<PixelImage>(count: count)
        // Decoding and resizing dominate loading: spread them over the cores.
        DispatchQueue.concurrentPerform(iterations: count) { i in
            results.set(i, Result {
                Resample.squareCentre(try ImageFile.read(files[i].url.path), side: preprocessing.loadSize)
            })
        }
        var pictures: [(PixelImage, Int)] = []
        var bad: [String] = []
        for (i, result) in results.values.enumerated() {
            switch result! {
            case .success(let p): pictures.append((p, files[i].label))
            case .failure(let e): bad.append("\(e)")
            }
        }
        if !bad.isEmpty && !skipBadImages {
            let shown = bad.prefix(5).joined(separator: "\n  ")
            throw DatasetError("\(bad.count) of \(count) pictures in \(directory) cannot be read:\n  \(shown)\(bad.count > 5 ? "\n  ..." : "")\nfix or remove them, or pass --skip-bad-images to train without them")
        }
        guard !pictures.isEmpty else {
            throw DatasetError("none of the \(count) pictures in \(directory) can be read (the first: \(bad.first ?? "?"))")
        }
        let channels = preprocessing.channels ?? (pictures.contains { $0.0.channels == 3 } ? 3 : 1)
        let side = preprocessing.loadSize
        var images: [UInt8] = []
        images.reserveCapacity(pictures.count * channels * side * side)
        for (picture, _) in pictures { images += Resample.planar(Resample.channels(picture, channels)) }
        let dataset = ImageDataset(images: images, labels: pictures.map(\.1), count: pictures.count, channels: channels,
                                   height: side, width: side, classNames: classNames, source: directory)
        return Loaded(dataset: dataset, skipped: bad)
    }

    /// The picture files (by extension) and their labels, and the class names.
    public static func listing(_ directory: String) throws -> (files: [(url: URL, label: Int)], classNames: [String]) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError("--dataroot \(directory) is not a directory")
        }
        let root = URL(fileURLWithPath: directory)
        func contents(_ url: URL) throws -> [String] {
            do { return try fm.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") }.sorted() } catch {
                throw DatasetError("cannot list \(url.path): \(FileErrorText.reason(error))")
            }
        }
        let classDirs = try contents(root).filter { name in
            var d: ObjCBool = false
            return fm.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
        }
        func pictures(in url: URL) throws -> [URL] {
            try contents(url).filter { ImageFile.extensions.contains(($0 as NSString).pathExtension.lowercased()) }
                .map { url.appendingPathComponent($0) }
        }
        var files: [(URL, Int)] = []
        var classNames: [String] = []
        if classDirs.isEmpty {
            files = try pictures(in: root).map { ($0, 0) }
            classNames = [root.lastPathComponent]
        } else {
            // Pictures beside class folders belong to no class: say so rather than leave them out.
            let loose = try pictures(in: root)
            if !loose.isEmpty {
                throw DatasetError("\(directory) holds class sub-folders (\(classDirs.joined(separator: ", "))) and \(loose.count) picture\(loose.count == 1 ? "" : "s") beside them (\(loose[0].lastPathComponent)\(loose.count > 1 ? ", ..." : "")), which would belong to no class: move them into a class folder or elsewhere")
            }
            for name in classDirs {
                let inside = try pictures(in: root.appendingPathComponent(name))
                // An empty sub-folder is no class: it would get a label that never occurs.
                guard !inside.isEmpty else { continue }
                files += inside.map { ($0, classNames.count) }
                classNames.append(name)
            }
        }
        guard !files.isEmpty else {
            throw DatasetError("\(directory) holds no pictures (.png, .jpg or .jpeg, directly or in class sub-folders)")
        }
        return (files, classNames)
    }
}
