import AtelierDevices
import AtelierGraph
import Foundation

/// Labelled gray or color images, stored as bytes, [N, C, H, W].
public struct ImageDataset: Sendable {
    /// The pictures, 8-bit, [count, channels, height, width] one after another.
    public let images: [UInt8]
    /// Each picture's class (an index into `classNames`).
    public let labels: [Int]
    /// Pictures held.
    public let count: Int
    /// 1 (gray) or 3 (RGB).
    public let channels: Int
    /// Rows of each picture.
    public let height: Int
    /// Columns of each picture.
    public let width: Int
    /// The classes, in label order (Fashion-MNIST's ten, or a folder's sub-folders).
    public let classNames: [String]
    /// Where it came from, for logs and errors.
    public let source: String

    /// A dataset of `count` pictures; `images` must hold them all.
    public init(images: [UInt8], labels: [Int], count: Int, channels: Int, height: Int, width: Int,
                classNames: [String], source: String) {
        self.images = images
        self.labels = labels
        self.count = count
        self.channels = channels
        self.height = height
        self.width = width
        self.classNames = classNames
        self.source = source
    }

    /// Bytes of one picture.
    public var imageSize: Int { channels * height * width }

    /// Samples `indices` as floats in `range`, [N, C, H, W] flattened.
    public func batch(_ indices: ArraySlice<Int>, range: ClosedRange<Float>) -> [Float] {
        let scale = (range.upperBound - range.lowerBound) / 255
        var out = [Float]()
        out.reserveCapacity(indices.count * imageSize)
        for i in indices {
            let start = i * imageSize
            for b in images[start..<start + imageSize] { out.append(range.lowerBound + Float(b) * scale) }
        }
        return out
    }

    /// Samples `indices` as `size` x `size` crops in `range`: centred, or at
    /// a random place with `randomCrop`, mirrored left-right with probability
    /// 1/2 with `flip`. Draws from `random` (crop x, crop y, flip per sample,
    /// in that order) only for what is random.
    public func batch(_ indices: ArraySlice<Int>, range: ClosedRange<Float>, size: Int, randomCrop: Bool, flip: Bool,
                      random: inout RandomGenerator) -> [Float] {
        precondition(size <= height && size <= width, "crop \(size) of \(height)x\(width) images")
        if size == height && size == width && !flip { return batch(indices, range: range) }
        let scale = (range.upperBound - range.lowerBound) / 255
        var out = [Float]()
        out.reserveCapacity(indices.count * channels * size * size)
        for i in indices {
            var (x0, y0) = ((width - size) / 2, (height - size) / 2)
            if randomCrop && (width > size || height > size) {
                x0 = Int(random.next() % UInt64(width - size + 1))
                y0 = Int(random.next() % UInt64(height - size + 1))
            }
            let mirror = flip && random.next() & 1 == 1
            for c in 0..<channels {
                for y in 0..<size {
                    let row = ((i * channels + c) * height + y0 + y) * width + x0
                    for x in 0..<size {
                        out.append(range.lowerBound + Float(images[row + (mirror ? size - 1 - x : x)]) * scale)
                    }
                }
            }
        }
        return out
    }

    /// The first `count` images.
    public func prefix(_ count: Int) -> ImageDataset {
        let n = min(count, self.count)
        return ImageDataset(images: Array(images.prefix(n * imageSize)), labels: Array(labels.prefix(n)), count: n,
                            channels: channels, height: height, width: width, classNames: classNames, source: source)
    }

    /// Every image resized and centre-cropped to `side` x `side` with
    /// `channels` channels (a no-op when it already is).
    public func converted(side: Int, channels: Int) -> ImageDataset {
        if side == height && side == width && channels == self.channels { return self }
        var out: [UInt8] = []
        out.reserveCapacity(count * channels * side * side)
        let plane = height * width
        for n in 0..<count {
            // Back to interleaved pixels for the resampler.
            var pixels = [UInt8](repeating: 0, count: imageSize)
            for c in 0..<self.channels {
                for i in 0..<plane { pixels[i * self.channels + c] = images[n * imageSize + c * plane + i] }
            }
            let picture = PixelImage(width: width, height: height, channels: self.channels, pixels: pixels)
            out += Resample.planar(Resample.channels(Resample.squareCentre(picture, side: side), channels))
        }
        return ImageDataset(images: out, labels: labels, count: count, channels: channels, height: side, width: side,
                            classNames: classNames, source: source)
    }
}

/// Fashion-MNIST's IDX files: 60,000 training pictures of 28x28 gray garments
/// in ten classes (Debian's dataset-fashion-mnist).
public enum FashionMNIST {
    /// Where Debian's package puts the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The ten classes, in label order.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// The training (60k) or test (10k) split from IDX files, gzip'd or not.
    public static func load(directory: String = defaultDirectory, train: Bool = true) throws -> ImageDataset {
        let prefix = train ? "train" : "t10k"
        func find(_ stem: String) throws -> String {
            for name in [stem + ".gz", stem] {
                let path = (directory as NSString).appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: path) { return path }
            }
            if directory == defaultDirectory {
                throw DatasetError("Fashion-MNIST is not installed: \(directory)/\(stem).gz is missing. Install it with `apt-get install dataset-fashion-mnist` (Tools/scripts/install-deps.sh does), or pass --dataroot DIR")
            }
            throw DatasetError("\(directory) has no \(stem).gz: point --dataroot at a folder with the Fashion-MNIST IDX files or at a folder of PNG images")
        }
        let (imageDims, pixels) = try IDX.read(try find("\(prefix)-images-idx3-ubyte"))
        let (labelDims, labelBytes) = try IDX.read(try find("\(prefix)-labels-idx1-ubyte"))
        guard imageDims.count == 3, labelDims.count == 1, imageDims[0] == labelDims[0] else {
            throw DatasetError("\(directory): images \(imageDims) and labels \(labelDims) do not match (expected [N, 28, 28] and [N])")
        }
        let labels = labelBytes.map(Int.init)
        if let bad = labels.first(where: { $0 >= classNames.count }) {
            throw DatasetError("\(directory): label \(bad) is not one of Fashion-MNIST's 10 classes; the label file is corrupt")
        }
        return ImageDataset(images: pixels, labels: labels, count: imageDims[0], channels: 1, height: imageDims[1],
                            width: imageDims[2], classNames: classNames, source: directory)
    }
}
