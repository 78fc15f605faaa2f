import AtelierDevices
import AtelierModels
import Foundation

/// What `atelier eval` reports for a pix2pix or CycleGAN checkpoint on its
/// test pictures.
public struct TranslationReport: Codable, Sendable {
    /// The checkpoint and the test pictures.
    public var source: String
    public var data: String
    public var model: ModelKind
    /// Pictures translated.
    public var count: Int
    /// pix2pix: the mean absolute difference of outputs and targets, in [0, 1] pixel units.
    public var l1: Double?
    /// pix2pix: the mean structural similarity (SSIM) of outputs and targets, 1 when equal.
    public var ssim: Double?
    /// CycleGAN: how much of each input's silhouette (its non-white pixels) the output keeps, as intersection over union.
    public var silhouetteIoU: Double?
    /// The Fréchet distance of the outputs to the reference (pix2pix: the targets; CycleGAN: domain B's test pictures)
    /// in the feature network's features.
    public var frechetDistance: Double
    /// The reference's pictures.
    public var referenceCount: Int
    /// What was done to the pictures to fit the feature network.
    public var conversion: String?
}

/// Translation measures that need no network: SSIM and silhouettes.
public enum TranslationQuality {
    /// The mean SSIM of two pictures of the same size (Wang et al. 2004:
    /// an 11x11 Gaussian window of deviation 1.5, C1 = 0.01^2, C2 = 0.03^2,
    /// on values in [0, 1]), averaged over the channels.
    public static func ssim(_ a: PixelImage, _ b: PixelImage) -> Double {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels, "SSIM compares pictures of one size")
        let (w, h, c) = (a.width, a.height, a.channels)
        let weights = (-5...5).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let total = weights.reduce(0, +)
        let kernel = weights.map { $0 / total }
        // Separable blur with the window cut at the edges (weights renormalised there).
        func blur(_ x: [Double]) -> [Double] {
            var rows = [Double](repeating: 0, count: w * h), out = rows
            for y in 0..<h {
                for i in 0..<w {
                    var (sum, norm) = (0.0, 0.0)
                    for k in -5...5 where (0..<w).contains(i + k) { sum += kernel[k + 5] * x[y * w + i + k]; norm += kernel[k + 5] }
                    rows[y * w + i] = sum / norm
                }
            }
            for y in 0..<h {
                for i in 0..<w {
                    var (sum, norm) = (0.0, 0.0)
                    for k in -5...5 where (0..<h).contains(y + k) { sum += kernel[k + 5] * rows[(y + k) * w + i]; norm += kernel[k + 5] }
                    out[y * w + i] = sum / norm
                }
            }
            return out
        }
        let (c1, c2) = (0.01 * 0.01, 0.03 * 0.03)
        var mean = 0.0
        for ch in 0..<c {
            let x = (0..<w * h).map { Double(a.pixels[$0 * c + ch]) / 255 }, y = (0..<w * h).map { Double(b.pixels[$0 * c + ch]) / 255 }
            let (mx, my) = (blur(x), blur(y))
            let (xx, yy, xy) = (blur(x.map { $0 * $0 }), blur(y.map { $0 * $0 }), blur(zip(x, y).map { $0 * $1 }))
            var sum = 0.0
            for i in 0..<w * h {
                let (vx, vy, cov) = (xx[i] - mx[i] * mx[i], yy[i] - my[i] * my[i], xy[i] - mx[i] * my[i])
                sum += ((2 * mx[i] * my[i] + c1) * (2 * cov + c2)) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2))
            }
            mean += sum / Double(w * h)
        }
        return mean / Double(c)
    }

    /// The mean absolute difference of two pictures of one size, in [0, 1].
    public static func l1(_ a: PixelImage, _ b: PixelImage) -> Double {
        zip(a.pixels, b.pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.pixels.count) / 255
    }

    /// The picture's silhouette: pixels darker than near-white (luma under 235),
    /// as garments on the white background the dataset makers use.
    public static func silhouette(_ p: PixelImage) -> [Bool] {
        (0..<p.width * p.height).map { i in
            let luma = p.channels == 1 ? Double(p.pixels[i])
                : 0.299 * Double(p.pixels[i * 3]) + 0.587 * Double(p.pixels[i * 3 + 1]) + 0.114 * Double(p.pixels[i * 3 + 2])
            return luma < 235
        }
    }

    /// Intersection over union of two silhouettes (1 when both are empty).
    public static func iou(_ a: [Bool], _ b: [Bool]) -> Double {
        let both = zip(a, b).filter { $0 && $1 }.count, either = zip(a, b).filter { $0 || $1 }.count
        return either == 0 ? 1 : Double(both) / Double(either)
    }
}

extension Evaluator {
    /// A pix2pix checkpoint on the `test` (else `val`) pairs of `data`, or a
    /// CycleGAN checkpoint on `data`'s testA/ pictures against testB/, at most `limit`.
    public func evaluate(translation path: String, data: String, limit: Int, backend: Backend) throws -> TranslationReport {
        let transfer = try Transfer(checkpoint: path, direction: nil, fit: .resize, backend: backend)
        let kind = transfer.config.kind
        func batches(_ inputs: [PixelImage]) throws -> [PixelImage] {
            try stride(from: 0, to: inputs.count, by: 64).flatMap { try transfer.translate(Array(inputs[$0..<min(inputs.count, $0 + 64)])) }
        }
        func features(_ pictures: [PixelImage]) throws -> [Float] {
            try network.extractor.measure(pictures.flatMap(FeatureExtractor.input)).features
        }
        let d = FeatureClassifier.featureCount
        if kind == .pix2pix {
            guard let split = ["test", "val"].first(where: { PairedFolder.splits(data).contains($0) }) else {
                throw EvaluationError("\(data) has no test/ or val/ pairs; give the folder `atelier datasets edges2fashion` wrote (or junyanz's aligned layout)")
            }
            let folder = (data as NSString).appendingPathComponent(split)
            let files = try ImageFolder.listing(folder).files.prefix(limit)
            guard files.count >= 2 else { throw EvaluationError("\(folder) holds fewer than two pairs") }
            let pairs = try files.map { try ImageFile.read($0.url.path) }
            let inputs = try pairs.map { try PictureFit.half(of: $0, right: transfer.inputIsRightHalf) }
            let targets = try pairs.map { try PictureFit.half(of: $0, right: !transfer.inputIsRightHalf) }
            let outputs = try batches(inputs)
            // Compared in the targets' channels (a gray target: the output's luma).
            let matched = zip(outputs, targets).map { o, t in t.channels == o.channels ? o : FeatureExtractor.channels(o, t.channels) }
            let l1 = zip(matched, targets).reduce(0.0) { $0 + TranslationQuality.l1($1.0, $1.1) } / Double(targets.count)
            let ssim = zip(matched, targets).reduce(0.0) { $0 + TranslationQuality.ssim($1.0, $1.1) } / Double(targets.count)
            let distance = try FeatureStatistics(features: features(outputs), dimension: d)
                .frechetDistance(to: try FeatureStatistics(features: features(targets), dimension: d))
            return TranslationReport(source: path, data: folder, model: kind, count: outputs.count, l1: l1, ssim: ssim, silhouetteIoU: nil,
                                     frechetDistance: distance, referenceCount: targets.count,
                                     conversion: FeatureExtractor.conversion(width: targets[0].width, height: targets[0].height, channels: targets[0].channels))
        }
        let (folderA, folderB) = ((data as NSString).appendingPathComponent("testA"), (data as NSString).appendingPathComponent("testB"))
        guard FileManager.default.fileExists(atPath: folderA), FileManager.default.fileExists(atPath: folderB) else {
            throw EvaluationError("\(data) has no testA/ and testB/ folders; give the folder `atelier datasets fabrics` wrote (or junyanz's unaligned layout)")
        }
        let inputs = try ImageFolder.listing(folderA).files.prefix(limit).map { try ImageFile.read($0.url.path) }
        let domainB = try ImageFolder.listing(folderB).files.prefix(limit).map { try ImageFile.read($0.url.path) }
        guard inputs.count >= 2, domainB.count >= 2 else { throw EvaluationError("\(data)'s testA/ and testB/ need two pictures each at least") }
        let outputs = try batches(inputs)
        let iou = zip(inputs, outputs).reduce(0.0) { sum, pair in
            sum + TranslationQuality.iou(TranslationQuality.silhouette(pair.0), TranslationQuality.silhouette(pair.1))
        } / Double(inputs.count)
        let distance = try FeatureStatistics(features: features(outputs), dimension: d)
            .frechetDistance(to: try FeatureStatistics(features: features(domainB), dimension: d))
        return TranslationReport(source: path, data: data, model: kind, count: outputs.count, l1: nil, ssim: nil, silhouetteIoU: iou,
                                 frechetDistance: distance, referenceCount: domainB.count,
                                 conversion: FeatureExtractor.conversion(width: domainB[0].width, height: domainB[0].height, channels: domainB[0].channels))
    }
}
