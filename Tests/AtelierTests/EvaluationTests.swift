import Foundation
import Testing
@testable import AtelierDevices
@testable import AtelierModels
@testable import AtelierTraining

/// The feature network and `atelier eval`. The network here is trained on a
/// quick recipe (one epoch of 2048 pictures); the full recipe's accuracy is
/// measured by `atelier eval` itself and documented in docs/quality.md.
@Suite(.enabled(if: RobustnessTests.fashionMNIST, "needs dataset-fashion-mnist"), .serialized)
struct EvaluationTests {
    static let quick = FeatureNetwork.Recipe(epochs: 1, batchSize: 64, seed: 0, limitImages: 2048)

    @Test("The feature network learns, is cached by its recipe, and a damaged cache is trained again")
    func featureNetwork() throws {
        let cache = try temporaryDirectory("eval-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let backend = CPUBackend()
        var lines: [String] = []
        let first = try FeatureNetwork.load(backend: backend, recipe: Self.quick, cache: cache) { lines.append($0) }
        #expect(first.trained && first.testAccuracy > 0.6, "accuracy \(first.testAccuracy)")
        #expect(lines.first?.contains("training the feature network") == true)
        let file = try #require(first.file)
        #expect(FileManager.default.fileExists(atPath: file.path) && file.lastPathComponent == Self.quick.key + ".safetensors")
        // Loaded from the cache: the same network, so the same accuracy on the same pictures.
        let second = try FeatureNetwork.load(backend: backend, recipe: Self.quick, cache: cache)
        #expect(!second.trained && second.testAccuracy == first.testAccuracy)
        let test = try FashionMNIST.load(train: false).prefix(300)
        #expect(try FeatureNetwork.accuracy(first.extractor, on: test) == FeatureNetwork.accuracy(second.extractor, on: test))
        // A truncated file is not trusted: the network is trained again.
        try Data(try Data(contentsOf: file).prefix(100)).write(to: file)
        #expect(try FeatureNetwork.load(backend: backend, recipe: Self.quick, cache: cache).trained)
    }

    @Test("eval scores a generator and a folder; test pictures are near the test set, a collapsed set is far and covers one class")
    func evaluate() throws {
        let cache = try temporaryDirectory("eval-scores")
        defer { try? FileManager.default.removeItem(at: cache) }
        let backend = CPUBackend()
        let evaluator = try Evaluator(backend: backend, recipe: Self.quick, cache: cache)
        // Fashion-MNIST's own training pictures (as PNGs): close to the test set.
        let train = try FashionMNIST.load(train: true).prefix(600)
        let real = cache.appendingPathComponent("real"), same = cache.appendingPathComponent("same")
        for folder in [real, same] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        for n in 0..<train.count {
            let picture = PixelImage(width: 28, height: 28, channels: 1, pixels: Array(train.images[n * 784..<(n + 1) * 784]))
            try PNG.write(picture, to: real.appendingPathComponent(String(format: "%04d.png", n)).path)
            // One picture again and again: a collapsed generator's output.
            if n < 300 {
                let first = PixelImage(width: 28, height: 28, channels: 1, pixels: Array(train.images[0..<784]))
                try PNG.write(first, to: same.appendingPathComponent(String(format: "%04d.png", n)).path)
            }
        }
        let good = try evaluator.evaluate(folder: real.path, limit: 10_000)
        let collapsed = try evaluator.evaluate(folder: same.path, limit: 10_000)
        #expect(good.count == 600 && good.conversion == nil)
        #expect(good.frechetDistance * 5 < collapsed.frechetDistance, "\(good.frechetDistance) vs \(collapsed.frechetDistance)")
        #expect(good.kernelDistance < collapsed.kernelDistance)
        #expect(good.classCoverage > 2.0 && collapsed.classCoverage == 0, "\(good.classCoverage) \(collapsed.classCoverage)")

        // A cdcgan checkpoint: samples per class, and the share classified as asked.
        let run = cache.appendingPathComponent("run").path
        let dry = try Executables.run("atelier", ["train", "--model", "cdcgan", "--dry-run", "--limit-images", "64", "--device", "cpu", "--out", run])
        #expect(dry.status == 0, "\(dry.stderr)")
        let report = try evaluator.evaluate(checkpoint: RunFiles(run).checkpoint.path, count: 200, seed: 1, backend: backend)
        #expect(report.model == .cdcgan && report.count == 200 && report.classAgreement?.count == 10 && report.meanClassAgreement != nil)
        #expect(report.frechetDistance > good.frechetDistance, "two steps of training are far from garments")
    }

    /// A cache folder whose entry for the default recipe is the quick
    /// network, so commands do not train for a minute; the environment that points at it.
    static func quickCache(_ dir: URL) throws -> [String: String] {
        let quick = try FeatureNetwork.load(backend: CPUBackend(), recipe: Self.quick, cache: dir.appendingPathComponent("eval"))
        var (tensors, metadata) = try Safetensors.decode(try Data(contentsOf: quick.file!), source: "quick")
        metadata[FeatureNetwork.recipeKey] = FeatureNetwork.Recipe().key
        try Safetensors.encode(Array(tensors.values), metadata: metadata)
            .write(to: dir.appendingPathComponent("eval/" + FeatureNetwork.Recipe().key + ".safetensors"))
        tensors = [:]
        return ["ATELIER_CACHE_DIR": dir.path]
    }

    @Test("--eval-every scores the run into the log, metrics.csv and metrics.png, keeps best.safetensors, and resumes",
          .timeLimit(.minutes(5)))
    func evalEvery() throws {
        let dir = try temporaryDirectory("eval-every")
        defer { try? FileManager.default.removeItem(at: dir) }
        let environment = try Self.quickCache(dir)
        let out = dir.appendingPathComponent("run").path
        let common = ["train", "--model", "dcgan", "--limit-images", "128", "--device", "cpu", "--eval-every", "1", "--eval-count", "100", "--out", out]
        let first = try Executables.run("atelier", common + ["--epochs", "2"], environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        let files = RunFiles(out)
        var rows = try String(contentsOf: files.metrics, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 3 && rows[0].hasPrefix("epoch,step,frechet_distance,kid"), "\(rows)")
        #expect(FileManager.default.fileExists(atPath: files.metricsChart.path) && FileManager.default.fileExists(atPath: files.best.path))
        #expect(first.stdout.contains("Fréchet distance") && first.stdout.contains("variety") && first.stdout.contains("best so far"), "\(first.stdout)")
        let resumed = try Executables.run("atelier", common + ["--epochs", "3", "--continue"], environment: environment)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        rows = try String(contentsOf: files.metrics, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 4 && rows[3].hasPrefix("3,"), "\(rows)")
    }

    @Test("eval measures pix2pix on its test pairs and CycleGAN on its test domains", .timeLimit(.minutes(10)))
    func translation() throws {
        let dir = try temporaryDirectory("eval-translation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let environment = try Self.quickCache(dir)
        for (model, maker) in [("pix2pix", ["edges2fashion"]), ("cyclegan", ["fabrics", "--pattern", "leopard"])] {
            let data = dir.appendingPathComponent(model + "-data").path, run = dir.appendingPathComponent(model).path
            let made = try Executables.run("atelier", ["datasets"] + maker + ["--out", data, "--size", "32", "--limit", "12"])
            #expect(made.status == 0, "\(made.stderr)")
            let trained = try Executables.run("atelier", ["train", "--model", model, "--dataroot", data, "--image-size", "32", "--dry-run",
                                                          "--device", "cpu", "--out", run])
            #expect(trained.status == 0, "\(trained.stderr)")
            let checkpoint = RunFiles(run).checkpoint.path
            if model == "pix2pix" {
                let missing = try Executables.run("atelier", ["eval", "--checkpoint", checkpoint, "--device", "cpu"], environment: environment)
                #expect(missing.status != 0 && missing.stderr.contains("--test-data DIR"), "\(missing.stderr)")
            }
            // Four pictures: translating in a debug build is slow.
            let json = try Executables.run("atelier", ["eval", "--checkpoint", checkpoint, "--test-data", data, "--count", "4", "--device", "cpu",
                                                       "--json"], environment: environment)
            #expect(json.status == 0, "\(json.stderr)")
            let report = try JSONDecoder().decode(TranslationReport.self, from: Data(json.stdout.utf8))
            #expect(report.count == 4 && report.frechetDistance >= 0)
            if model == "pix2pix" {
                #expect(report.l1.map { (0...1).contains($0) } == true && report.ssim.map { (-1...1).contains($0) } == true && report.silhouetteIoU == nil)
            } else {
                #expect(report.silhouetteIoU.map { (0...1).contains($0) } == true && report.l1 == nil)
            }
        }
    }

    @Test("The eval command: text and JSON, RGB pictures converted and said so, and its errors",
          .timeLimit(.minutes(5)))
    func command() throws {
        let dir = try temporaryDirectory("eval-command")
        defer { try? FileManager.default.removeItem(at: dir) }
        let environment = try Self.quickCache(dir)

        let pictures = dir.appendingPathComponent("rgb")
        try FileManager.default.createDirectory(at: pictures, withIntermediateDirectories: true)
        var rng = RandomGenerator(seed: 4)
        for n in 0..<20 {
            let pixels = rng.uniform(64 * 64 * 3, in: 0...255).map { UInt8($0) }
            try PNG.write(PixelImage(width: 64, height: 64, channels: 3, pixels: pixels), to: pictures.appendingPathComponent("\(n).png").path)
        }
        let text = try Executables.run("atelier", ["eval", "--real", pictures.path, "--device", "cpu"], environment: environment)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("RGB to gray (ITU-R 601 luma), 64x64 to 28x28 by area averaging") && text.stdout.contains("Fréchet distance")
                && text.stdout.contains("kernel distance (KID)") && !text.stdout.contains("training the feature network"), "\(text.stdout)")
        let json = try Executables.run("atelier", ["eval", "--real", pictures.path, "--device", "cpu", "--json"], environment: environment)
        let report = try JSONDecoder().decode(EvaluationReport.self, from: Data(json.stdout.utf8))
        #expect(report.count == 20 && report.frechetDistance > 0 && report.featureNetwork == FeatureNetwork.Recipe().key)

        let neither = try Executables.run("atelier", ["eval"], environment: environment)
        #expect(neither.status != 0 && neither.stderr.contains("give --checkpoint (a generator) or --real"), "\(neither.stderr)")
        let translation = dir.appendingPathComponent("none")
        let missing = try Executables.run("atelier", ["eval", "--checkpoint", translation.path], environment: environment)
        #expect(missing.status != 0 && missing.stderr.contains("no checkpoint at"), "\(missing.stderr)")
    }
}
