import Foundation
import Testing
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// cdcgan's auxiliary classifier (`--class-loss`): D's shape, the class
/// terms in each phase, that D learns to name classes, and the option from
/// the command line to the checkpoint.
struct AuxiliaryClassifierTests {
    static let classNames = ["a", "b", "c"]

    static func model(size: Int, classLoss: Float, seed: UInt64 = 1) throws -> (GANModel, RandomGenerator) {
        var config = ModelConfig(kind: .cdcgan, imageSize: size, classNames: classNames, ngf: 8, ndf: 8)
        config.classLoss = classLoss
        var rng = RandomGenerator(seed: seed)
        return (try GANModel(config: config, rng: &rng), rng)
    }

    @Test("With the class loss, D takes the image alone and answers its verdict and one logit per class", arguments: [28, 32])
    func discriminatorShape(size: Int) throws {
        let (model, _) = try Self.model(size: size, classLoss: 1)
        let d = model.discriminator.namedParameters()
        #expect(d.first?.parameter.shape.dims[1] == 1, "D's first layer sees the gray image without class planes")
        let g = Graph()
        let context = ForwardContext(graph: g, training: false)
        let images = g.input("x", [5, 1, size, size])
        let scores = try model.discriminate(images, classPlanes: nil, context)
        #expect(scores.shape == [5, 1 + Self.classNames.count])
        let (verdict, classes) = try model.verdictAndClasses(scores, g)
        #expect(verdict.shape == [5, 1] && classes?.shape == [5, 3])

        // Without it, D is told the class by planes and answers one verdict.
        let (plain, _) = try Self.model(size: size, classLoss: 0)
        #expect(plain.discriminator.namedParameters().first?.parameter.shape.dims[1] == 1 + 3)
        let split = try plain.verdictAndClasses(g.input("s", [5, 1]), g)
        #expect(split.classes == nil)
    }

    @Test("The class loss is refused without classes or below zero")
    func refusals() throws {
        var gan = ModelConfig(kind: .dcgan)
        gan.classLoss = 1
        #expect(throws: ShapeError.self) { try gan.validate() }
        var negative = ModelConfig(kind: .cdcgan, classNames: Self.classNames)
        negative.classLoss = -1
        #expect(throws: ShapeError.self) { try negative.validate() }
        negative.classLoss = .nan
        #expect(throws: ShapeError.self) { try negative.validate() }
    }

    /// Class c's pictures: a plain gray level per class, with a little noise, so that a class is easy to name.
    static func pictures(_ classes: [Int], size: Int, rng: inout RandomGenerator) -> [Float] {
        classes.flatMap { c in rng.normal(size * size).map { Float(c) - 1 + 0.1 * $0 } }
    }

    @Test("The class terms enter each phase at their weight, start near ln k, and D learns to name the classes")
    func classTermsAndLearning() throws {
        let weight: Float = 0.5
        var (model, rng) = try Self.model(size: 28, classLoss: weight)
        let trainer = try Trainer(model: model, backend: CPUBackend())
        let batch = 12
        func step() throws -> StepStatistics {
            let classes = (0..<batch).map { $0 % 3 }
            let (n, feed) = try model.feed(real: Self.pictures(classes, size: 28, rng: &rng), noise: rng.normal(batch * model.config.nz), classes: classes)
            try trainer.step(batch: n, feed: feed)
            return try trainer.statistics()
        }
        let first = try step()
        let (dClass, gClass, gGAN, lossG) = (try #require(first["D_class"]), try #require(first["G_class"]), try #require(first["G_GAN"]), try #require(first["Loss_G"]))
        // Small initial logits: each cross-entropy (D's on the real batch, G's on the generated one) is about ln 3.
        let ln3 = Float(log(3.0))
        #expect(abs(dClass - ln3) < 0.3 && abs(gClass - ln3) < 0.3, "D_class \(dClass), G_class \(gClass)")
        #expect(abs(lossG - (gGAN + weight * gClass)) < 1e-4 * max(1, abs(lossG)), "Loss_G \(lossG) = G_GAN \(gGAN) + \(weight) G_class \(gClass)")
        var last = first
        for _ in 0..<60 { last = try step() }
        let named = try #require(last["D_class"])
        #expect(named < 0.5 * dClass, "D_class \(dClass) -> \(named) after 60 steps on classes it can tell apart")
        #expect(last.values.allSatisfy { $0.isFinite }, "\(last)")
    }

    @Test("--class-loss trains cdcgan with the class columns, keeps the weight in the checkpoint, samples, and is refused for other models",
          .enabled(if: RobustnessTests.fashionMNIST, "needs dataset-fashion-mnist"))
    func commandLine() throws {
        let dir = try temporaryDirectory("class-loss")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let trained = try Executables.run("atelier", ["train", "--model", "cdcgan", "--class-loss", "1", "--dry-run", "--limit-images", "64",
                                                      "--device", "cpu", "--out", run])
        #expect(trained.status == 0, "\(trained.stderr)")
        let header = try String(contentsOf: RunFiles(run).losses, encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        for column in ["d_class", "g_class", "g_gan"] { #expect(header.split(separator: ",").contains(Substring(column)), "\(header)") }
        let (state, _) = try Checkpoint.read(RunFiles(run).checkpoint.path)
        #expect(state.model.classLoss == 1 && state.model.discriminatorOutputs == 11)
        let sampled = try Executables.run("atelier", ["sample", "--checkpoint", RunFiles(run).checkpoint.path, "--class", "sneaker",
                                                      "--count", "4", "--out", dir.path + "/s.png"])
        #expect(sampled.status == 0, "\(sampled.stderr)")
        for (model, message) in [("dcgan", "only cdcgan has classes"), ("cdcgan", "(0, 100]")] {
            let weight = model == "dcgan" ? "1" : "-2"
            let refused = try Executables.run("atelier", ["train", "--model", model, "--class-loss", weight, "--dry-run"])
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(model): \(refused.stderr)")
        }
    }
}
