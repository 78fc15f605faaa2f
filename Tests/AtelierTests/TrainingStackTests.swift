import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// The generic training stack with a model of its own: three networks in
/// three groups, two phases, weighted terms and an extra state, saved and
/// resumed exactly; schedules; old checkpoints; the builder's errors.
struct TrainingStackTests {
    /// A: x -> a, B: a -> b, C: scores of a and b. Phase "generators"
    /// updates A and B together (one group), phase "critic" updates C; a
    /// host-side counter stands for an image pool.
    final class ThreeNetworks: TrainingModel {
        let a: Module, b: Module, c: Module
        var counter: [Float] = [0, 0]
        var schedule = LearningRateSchedule.constant
        var phases: [(name: String, group: String)] = [("generators", "AB"), ("critic", "C")]
        var duplicateStatistic = false

        init(seed: UInt64) {
            var rng = RandomGenerator(seed: seed)
            let normal = Initializer.normal(std: 0.3)
            // Dropout too: its masks follow the step count, which a checkpoint restores.
            a = Sequential([Dense(4, 6, initializer: normal, rng: &rng), ActivationLayer(.tanh), Dropout(0.3)])
            b = Sequential([Dense(6, 4, initializer: normal, rng: &rng), ActivationLayer(.tanh)])
            c = Sequential([Dense(4, 1, initializer: normal, rng: &rng)])
        }

        var networks: [Network] { [Network("A", a), Network("B", b), Network("C", c)] }
        var parameterGroups: [ParameterGroupSpec] {
            [ParameterGroupSpec(name: "AB", networks: ["A", "B"], optimizer: OptimizerSettings(learningRate: 1e-2), schedule: schedule),
             ParameterGroupSpec(name: "C", networks: ["C"], optimizer: OptimizerSettings(learningRate: 5e-3, beta1: 0.9))]
        }

        func buildStep(_ step: StepBuilder) throws {
            let g = step.graph
            let x = try step.input("x", sampleShape: [4])
            let target = try step.input("target", sampleShape: [4])
            let hidden = try a(x, step.context)
            let out = try b(hidden, step.context)
            try step.phase(phases[0].name, updates: phases[0].group, total: "Loss_AB") { terms in
                try terms.add("adv", try g(.loss(.mse), try c(out, step.context), g.constant(1, [step.batch, 1])))
                try terms.add("rec", try g(.loss(.l1), out, target), weight: 10)
                try terms.add("idt", try g(.loss(.mse), out, x), weight: 0.5)
            }
            try step.phase(phases[1].name, updates: phases[1].group, total: "Loss_C") { terms in
                try terms.add("real", try g(.loss(.mse), try c(target, step.context), g.constant(1, [step.batch, 1])), weight: 0.5)
                try terms.add("fake", try g(.loss(.mse), try c(out, step.context), g.constant(0, [step.batch, 1])), weight: 0.5)
                try terms.report(duplicateStatistic ? "rec" : "score", try g(.loss(.mean), try c(out, step.context)))
            }
        }

        func extraState() -> [String: [Float]] { ["counter": counter] }
        func restoreExtraState(_ state: [String: [Float]]) throws {
            guard let c = state["counter"], c.count == 2 else { throw CheckpointError("no counter") }
            counter = c
        }
    }

    static func feed(_ step: Int) -> [String: [Float]] {
        ["x": randomValues(12, seed: UInt64(100 + step)), "target": randomValues(12, seed: UInt64(200 + step))]
    }

    /// Runs steps `range` on `trainer`, counting them in the model's counter.
    static func train(_ trainer: Trainer, _ model: ThreeNetworks, _ range: Range<Int>) throws {
        for s in range {
            trainer.epoch = s / 2
            try trainer.step(batch: 3, feed: feed(s))
            model.counter[0] += 1
            model.counter[1] += Float(s)
        }
    }

    @Test("Three networks in two groups: statistics by name, weighted terms, every group updated")
    func statistics() throws {
        let model = ThreeNetworks(seed: 1)
        let trainer = try Trainer(model: model, backend: CPUBackend())
        let before = try model.namedParameters.map { try CPUBackend.read($0.parameter) }
        try Self.train(trainer, model, 0..<1)
        let stats = try trainer.statistics()
        #expect(stats.names == ["Loss_AB", "Loss_C", "adv", "rec", "idt", "real", "fake", "score"])
        #expect(stats.kinds == [.total, .total, .term, .term, .term, .term, .term, .score])
        let ab = stats["adv"]! + 10 * stats["rec"]! + 0.5 * stats["idt"]!
        #expect(abs(stats["Loss_AB"]! - ab) <= 1e-5 * ab, "Loss_AB \(stats["Loss_AB"]!) is not adv + 10 rec + 0.5 idt = \(ab)")
        #expect(abs(stats["Loss_C"]! - 0.5 * (stats["real"]! + stats["fake"]!)) <= 1e-6)
        let after = try model.namedParameters.map { try CPUBackend.read($0.parameter) }
        for ((name, _), (old, new)) in zip(model.namedParameters, zip(before, after)) {
            #expect(old != new, "\(name) was not updated")
        }
        #expect(trainer.adamSteps == ["AB": 1, "C": 1])
        #expect(StepStatistics.column("D(G(z))") == "d_g_z" && StepStatistics.column("Loss_D") == "loss_d")
    }

    @Test("A checkpoint of any groups, schedules and extra state resumes to the same bits, dropout masks included")
    func exactResume() throws {
        let dir = try temporaryDirectory("stack-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.safetensors").path
        func fresh() throws -> (ThreeNetworks, Trainer) {
            let model = ThreeNetworks(seed: 1)
            model.schedule = .linearDecay(decayEpochs: 2, totalEpochs: 3)
            return (model, try Trainer(model: model, backend: CPUBackend()))
        }
        let (straight, straightTrainer) = try fresh()
        try Self.train(straightTrainer, straight, 0..<6)

        let (first, firstTrainer) = try fresh()
        try Self.train(firstTrainer, first, 0..<3)
        var state = TrainingState(model: ModelConfig(kind: .gan), groups: [], seed: 1, batchSize: 3, dropLast: true, epoch: 1,
                                  stepInEpoch: 1, step: 3, epochStartRandom: RandomGenerator(seed: 1), random: RandomGenerator(seed: 2))
        state.update(from: firstTrainer)
        try Checkpoint.save(firstTrainer, state: state, to: path)

        let (read, tensors) = try Checkpoint.read(path)
        #expect(read.groups.map(\.adamStep) == [3, 3] && read.groups[0].spec.schedule == .linearDecay(decayEpochs: 2, totalEpochs: 3))
        let (resumed, resumedTrainer) = try fresh()
        resumed.schedule = .constant  // the checkpoint's schedule wins
        try Checkpoint.restore(resumedTrainer, state: read, from: tensors, path: path)
        #expect(resumed.counter == [3, 3] && resumedTrainer.groupSpecs[0].schedule == .linearDecay(decayEpochs: 2, totalEpochs: 3))
        try Self.train(resumedTrainer, resumed, 3..<6)
        for ((name, p), (_, q)) in zip(straight.namedParameters, resumed.namedParameters) {
            #expect(try CPUBackend.read(p) == CPUBackend.read(q), "\(name) differs after resuming")
        }
        #expect(straight.counter == resumed.counter)
        #expect(try straightTrainer.statistics() == resumedTrainer.statistics())
    }

    @Test("Learning-rate schedules: constant, linear decay as pytorch-CycleGAN-and-pix2pix, step")
    func schedules() throws {
        // junyanz: n_epochs 2, n_epochs_decay 3 -> 1, 1, 0.75, 0.5, 0.25.
        let linear = LearningRateSchedule.linearDecay(decayEpochs: 3, totalEpochs: 5)
        #expect((0..<5).map { linear.factor(epoch: $0) } == [1, 1, 0.75, 0.5, 0.25])
        #expect(linear.factor(epoch: 5) == 0 && linear.factor(epoch: 9) == 0, "never negative past the total")
        let step = LearningRateSchedule.step(everyEpochs: 2, gamma: 0.5)
        #expect((0..<5).map { step.factor(epoch: $0) } == [1, 1, 0.5, 0.5, 0.25])
        #expect(LearningRateSchedule.constant.factor(epoch: 99) == 1)
        #expect(throws: ShapeError.self) { try LearningRateSchedule.linearDecay(decayEpochs: 6, totalEpochs: 5).validate() }
        #expect(throws: ShapeError.self) { try LearningRateSchedule.step(everyEpochs: 0, gamma: 0.5).validate() }

        // The trainer's Adam runs at the scheduled rate: a step at factor 0.25
        // moves the weights a quarter as far as one at factor 1 (Adam's first
        // step is lr * sign(g), up to eps).
        func firstMove(epoch: Int) throws -> [Float] {
            let model = ThreeNetworks(seed: 4)
            model.schedule = linear
            let trainer = try Trainer(model: model, backend: CPUBackend())
            let p = model.namedParameters[0].parameter
            let before = try CPUBackend.read(p)
            trainer.epoch = epoch
            #expect(trainer.learningRate(trainer.groupSpecs[0]) == 1e-2 * linear.factor(epoch: epoch))
            try trainer.step(batch: 3, feed: Self.feed(0))
            return zip(try CPUBackend.read(p), before).map { $0 - $1 }
        }
        let (full, quarter) = (try firstMove(epoch: 0), try firstMove(epoch: 4))
        expectClose(quarter, full.map { $0 * 0.25 }, rtol: 1e-3, atol: 1e-7, "moves at factor 0.25")
    }

    @Test("Checkpoints of earlier releases (two fixed groups) still load")
    func olderCheckpoints() throws {
        let json = """
        {"model":{"kind":"dcgan","nz":100,"imageChannels":1,"imageSize":28,"classNames":[]},
         "optimizer":{"learningRate":0.0002,"beta1":0.5,"beta2":0.999,"epsilon":1e-08},
         "seed":0,"batchSize":64,"dropLast":true,"epoch":1,"stepInEpoch":0,"step":937,
         "epochStartRandom":{"state":5},"random":{"state":6},"generatorAdamStep":937,"discriminatorAdamStep":937}
        """
        let state = try JSONDecoder().decode(TrainingState.self, from: Data(json.utf8))
        #expect(state.model.ngf == 64 && state.model.ganMode == .vanilla)
        #expect(state.groups.map(\.spec.name) == ["discriminator", "generator"] && state.groups.map(\.adamStep) == [937, 937])
        #expect(state.groups[0].spec.schedule == .constant && state.groups[1].spec.optimizer.learningRate == 2e-4)
        // The current encoding reads back as it was written.
        let again = try JSONDecoder().decode(TrainingState.self, from: try JSONEncoder().encode(state))
        #expect(again == state)
        var rng = RandomGenerator(seed: 0)
        let model = try GANModel(config: state.model, rng: &rng)
        #expect(model.parameterGroups.map(\.name) == state.groups.map(\.spec.name), "the groups old checkpoints map to")
        let options = try JSONDecoder().decode(TrainingOptions.self, from: Data(#"{"model":"dcgan","epochs":3,"batchSize":32}"#.utf8))
        #expect(options.epochs == 3 && options.batchSize == 32 && options.imageSize == nil && options.ganMode == .vanilla)
    }

    @Test("A step the builder cannot train is an error that says why")
    func builderErrors() throws {
        func error(_ configure: (ThreeNetworks) -> Void) -> String {
            let model = ThreeNetworks(seed: 1)
            configure(model)
            do {
                try Trainer(model: model, backend: CPUBackend()).step(batch: 3, feed: Self.feed(0))
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(error { $0.phases[1].group = "D" }.contains("updates group D, which the model does not declare"))
        #expect(error { $0.phases[1].group = "AB" }.contains("group AB is updated by two phases"))
        #expect(error { $0.duplicateStatistic = true }.contains("reports rec twice"))
        let model = ThreeNetworks(seed: 1)
        let trainer = try Trainer(model: model, backend: CPUBackend())
        #expect { try trainer.step(batch: 3, feed: ["x": [0]]) } throws: { "\($0)".contains("input x holds 1 values") }
        #expect { try trainer.step(batch: 3, feed: ["x": Self.feed(0)["x"]!]) } throws: { "\($0)".contains("needs input target") }
    }
}

extension CPUBackend {
    /// A parameter's values.
    static func read(_ p: Parameter) throws -> [Float] {
        let b = try p.bound()
        return Array(UnsafeBufferPointer(start: b.host, count: b.count))
    }
}

/// gan, dcgan and cdcgan at every size and channel count they offer: one
/// training step each, with shapes and finite statistics.
struct ModelSizeTests {
    @Test("Every model trains a step at every image size, gray and RGB",
          arguments: [ModelKind.gan, .dcgan, .cdcgan])
    func everySize(kind: ModelKind) throws {
        for size in ModelConfig.supportedSizes(kind).filter({ $0 <= 128 }) {
            for channels in [1, 3] {
                var rng = RandomGenerator(seed: 1)
                let classes = kind == .cdcgan ? ["a", "b", "c"] : []
                let config = ModelConfig(kind: kind, imageChannels: channels, imageSize: size, classNames: classes, ngf: 8, ndf: 8)
                let model = try GANModel(config: config, rng: &rng)
                let trainer = try Trainer(model: model, backend: CPUBackend())
                let batch = 2
                let real = rng.uniform(batch * channels * size * size, in: config.pixelRange)
                let (n, feed) = try model.feed(real: real, noise: rng.normal(batch * config.nz), classes: kind == .cdcgan ? [0, 2] : nil)
                try trainer.step(batch: n, feed: feed)
                let stats = try trainer.statistics()
                #expect(stats.values.allSatisfy { $0.isFinite }, "\(kind) \(size)x\(size)x\(channels): \(stats)")
                let noise = rng.normal(3 * config.nz)
                let images = try GANSampler(model: model, backend: trainer.backend).generate(noise: noise, classes: kind == .cdcgan ? [0, 1, 2] : nil)
                #expect(images.count == 3 * channels * size * size, "\(kind) \(size)x\(size)x\(channels) samples")
            }
        }
        #expect(throws: ShapeError.self) { var rng = RandomGenerator(seed: 1); _ = try GANModel(config: ModelConfig(kind: kind, imageSize: 48), rng: &rng) }
    }
}
