import Foundation
import Testing
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// The GAN remedies and the collapse alarm, each on its own.
struct RemediesTests {
    /// D's loss on fixed logits, from a plan.
    static func discriminatorLoss(_ mode: GANLoss, logits: [Float], smoothing: Float) throws -> Float {
        let g = Graph()
        let scores = g.input("scores", [logits.count, 1])
        let loss = try mode.discriminator(scores, real: true, smoothing: smoothing, g)
        let plan = try Plan(g, on: CPUBackend(), keep: [loss])
        try plan.write(logits, to: scores)
        try plan.run()
        return try plan.read(loss)[0]
    }

    @Test("One-sided label smoothing aims D's real target at 1 - s, for BCE and least squares")
    func labelSmoothing() throws {
        let logits: [Float] = [-1.5, 0.2, 2]
        let bce = logits.map { z in Double(max(z, 0) - z * 0.9) + log1p(exp(-Double(abs(z)))) }.reduce(0, +) / 3
        #expect(abs(Double(try Self.discriminatorLoss(.vanilla, logits: logits, smoothing: 0.1)) - bce) < 1e-6)
        let squares = logits.map { pow(Double($0) - 0.9, 2) }.reduce(0, +) / 3
        #expect(abs(Double(try Self.discriminatorLoss(.lsgan, logits: logits, smoothing: 0.1)) - squares) < 1e-6)
        #expect(throws: ShapeError.self) { try GANRemedies(labelSmoothing: 0.1).validate(mode: .hinge) }
        #expect(throws: ShapeError.self) { try GANRemedies(labelSmoothing: 1).validate(mode: .vanilla) }
        #expect(throws: ShapeError.self) { try GANRemedies(discriminatorLearningRate: -1).validate(mode: .vanilla) }
    }

    @Test("D's own learning rate goes to D's group only")
    func separateRates() throws {
        var rng = RandomGenerator(seed: 1)
        let model = try GANModel(config: ModelConfig(kind: .gan), rng: &rng)
        model.optimizer.learningRate = 2e-4
        model.remedies = GANRemedies(discriminatorLearningRate: 1e-4)
        let rates = Dictionary(uniqueKeysWithValues: model.parameterGroups.map { ($0.name, $0.optimizer.learningRate) })
        #expect(rates == ["discriminator": 1e-4, "generator": 2e-4])
    }

    @Test("Instance noise reaches D's inputs at the annealed deviation, and no noise is drawn without it",
          .enabled(if: RobustnessTests.fashionMNIST, "needs dataset-fashion-mnist"))
    func instanceNoise() throws {
        var options = TrainingOptions()
        options.model = .gan
        options.limitImages = 64
        options.instanceNoise = 0.2
        var rng = RandomGenerator(seed: 0)
        let task = try GANTask(options: options, restored: nil, backend: CPUBackend(), rng: &rng) { _ in }
        var random = RandomGenerator(seed: 3)
        task.progress = 0.75
        let (_, feed) = try task.feed(Array(0..<64)[...], random: &random)
        let noise = try #require(feed["noise_real"])
        let deviation = (noise.reduce(0) { $0 + Double($1) * Double($1) } / Double(noise.count)).squareRoot()
        #expect(abs(deviation - 0.05) < 0.002, "deviation \(deviation), expected 0.2 x (1 - 0.75)")
        #expect(feed["noise_fake"]?.count == noise.count)
        // Without instance noise: the same draws as ever, and no noise inputs.
        options.instanceNoise = 0
        var rng2 = RandomGenerator(seed: 0)
        let plain = try GANTask(options: options, restored: nil, backend: CPUBackend(), rng: &rng2) { _ in }
        var again = RandomGenerator(seed: 3)
        let (_, plainFeed) = try plain.feed(Array(0..<64)[...], random: &again)
        #expect(plainFeed["noise_real"] == nil && plainFeed["z"] == feed["z"])
    }

    @Test("The collapse alarm fires on collapsed samples and on a discriminator that has won, and stays quiet on a healthy run",
          .enabled(if: RobustnessTests.fashionMNIST, "needs dataset-fashion-mnist"))
    func collapseAlarm() throws {
        let train = try FashionMNIST.load(train: true).prefix(200)
        let real = train.batch(Array(0..<64)[...], range: -1...1)
        let others = train.batch(Array(100..<164)[...], range: -1...1)
        let one = Array(real[0..<784])
        var rng = RandomGenerator(seed: 9)
        let collapsed = (0..<64).flatMap { _ in zip(one, rng.normal(784, std: 0.02)).map { $0 + $1 } }
        var healthy = CollapseWatch(realPictures: real, pictureSize: 784)
        let quiet = healthy.observe(samples: others, pictureSize: 784, coverage: 2.2, epoch: 1)
        #expect(quiet.warning == nil && quiet.variety > 0.8, "\(quiet)")
        var watch = CollapseWatch(realPictures: real, pictureSize: 784)
        let loud = watch.observe(samples: collapsed, pictureSize: 784, coverage: nil, epoch: 2)
        #expect(loud.variety < 0.1 && loud.warning?.contains("mode collapse at epoch 2") == true && loud.warning?.contains("--stable") == true)
        #expect(watch.observe(samples: collapsed, pictureSize: 784, coverage: nil, epoch: 3).warning == nil, "said once")
        // Few classes alone also count.
        var classes = CollapseWatch(realPictures: real, pictureSize: 784)
        #expect(classes.observe(samples: others, pictureSize: 784, coverage: 0.7, epoch: 1).warning?.contains("few classes") == true)

        let won = StepStatistics(names: ["Loss_D", "Loss_G", "D(x)", "D(G(z))"], kinds: [.total, .total, .score, .score], values: [0.01, 6, 0.99, 0.01])
        let fine = StepStatistics(names: ["Loss_D", "Loss_G", "D(x)", "D(G(z))"], kinds: [.total, .total, .score, .score], values: [1.2, 1, 0.6, 0.35])
        var steps = CollapseWatch(realPictures: real, pictureSize: 784)
        for _ in 0..<1000 { #expect(steps.observe(fine, mode: .vanilla) == nil) }
        var warnings: [String] = []
        for _ in 0..<CollapseWatch.wonPatience { if let w = steps.observe(won, mode: .vanilla) { warnings.append(w) } }
        #expect(warnings.count == 1 && warnings[0].contains("the discriminator has won"), "\(warnings)")
    }

    @Test("The minibatch deviation joins D where it flattens, and --stable turns it on beside what is given",
          .enabled(if: RobustnessTests.fashionMNIST, "needs dataset-fashion-mnist"))
    func minibatchStdAndStable() throws {
        var config = ModelConfig(kind: .gan)
        config.minibatchStd = true
        var rng = RandomGenerator(seed: 0)
        let model = try GANModel(config: config, rng: &rng)
        let dense = model.discriminator.namedParameters().first { $0.name == "layers.6.weight" }
        #expect(dense?.parameter.shape.dims == [1024, 64 * 6 * 6 + 1])
        var large = ModelConfig(kind: .dcgan, imageSize: 64)
        large.minibatchStd = true
        #expect(throws: ShapeError.self) { try large.validate() }

        let dir = try temporaryDirectory("stable")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("stable").path
        let stable = try Executables.run("atelier", ["train", "--model", "gan", "--stable", "--label-smoothing", "0.2", "--dry-run",
                                                     "--limit-images", "64", "--device", "cpu", "--out", run])
        #expect(stable.status == 0, "\(stable.stderr)")
        let options = try JSONDecoder().decode(TrainingOptions.self, from: Data(contentsOf: RunFiles(run).options))
        #expect(options.stable && options.labelSmoothing == 0.2 && options.instanceNoise == 0 && options.learningRateD == nil
                && options.minibatchStd && options.spectralNorm)
        let (state, _) = try Checkpoint.read(RunFiles(run).checkpoint.path)
        #expect(state.model.minibatchStd && state.model.spectralNorm)
        // Sampling rebuilds the model with its deviation layer from the checkpoint.
        let sampled = try Executables.run("atelier", ["sample", "--checkpoint", RunFiles(run).checkpoint.path, "--count", "4", "--out", dir.path + "/s.png"])
        #expect(sampled.status == 0, "\(sampled.stderr)")
        let refused = try Executables.run("atelier", ["train", "--model", "pix2pix", "--stable", "--dry-run"])
        #expect(refused.status != 0 && refused.stderr.contains("apply to gan, dcgan and cdcgan"), "\(refused.stderr)")
    }

    @Test("Sampling with batch statistics, as PyTorch's peers draw, leaves the running statistics as they are")
    func batchStatisticsSampling() throws {
        var rng = RandomGenerator(seed: 1)
        let model = try GANModel(config: ModelConfig(kind: .dcgan, ngf: 8), rng: &rng)
        let backend = CPUBackend()
        for (_, p) in model.namedParameters { try p.place(on: backend) }
        // Running statistics away from 0 and 1, so that they differ from any batch's.
        let means = model.namedParameters.filter { $0.name.hasSuffix("running_mean") }
        for (_, p) in means { try backend.write([Float](repeating: 0.3, count: p.shape.count), to: try p.bound()) }
        let noise = rng.normal(8 * 100)
        let batch = GANSampler(model: model, backend: backend, batchStatistics: true)
        let first = try batch.generate(noise: noise), second = try batch.generate(noise: noise)
        #expect(first == second)
        #expect(first != (try GANSampler(model: model, backend: backend).generate(noise: noise)))
        for (name, p) in means { #expect(try backend.read(try p.bound()).allSatisfy { $0 == 0.3 }, "\(name) changed") }
    }
}
