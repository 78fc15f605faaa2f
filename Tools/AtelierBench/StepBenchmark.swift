import Atelier
import Foundation

/// Times whole training steps of a model, as `atelier train` runs them, on
/// random data (the time does not depend on the values).
enum StepBenchmark {
    struct Result: Codable {
        var model: String
        var imageSize: Int
        var channels: Int
        var batch: Int
        var device: String
        var medianMilliseconds: Double
        var samplesPerSecond: Double
        /// Per op kind: milliseconds per step, with --breakdown.
        var profile: [String: Double]?
        /// The --breakdown table (not in the JSON).
        var report: String?

        enum CodingKeys: String, CodingKey { case model, imageSize, channels, batch, device, medianMilliseconds, samplesPerSecond, profile }
    }

    /// Times steps on `backend`; with `profiled`, then profiles as many on it.
    static func run(_ kind: ModelKind, imageSize: Int = 28, channels: Int = 1, batch: Int, backend: Backend, profiled: Backend?, byNode: Bool = false, warmup: Int,
                    repeats: Int, peak: DevicePeak?) throws -> Result {
        var rng = RandomGenerator(seed: 1)
        var trainer = try makeTrainer(kind, imageSize: imageSize, channels: channels, batch: batch, backend: backend, rng: &rng)
        func step() throws {
            try trainer.step()
            _ = try trainer.trainer.statistics()  // as training does every step: read the losses
        }
        for _ in 0..<warmup { try step() }
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try step()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let median = times.sorted()[times.count / 2]
        var profile: [String: Double]?
        var report: String?
        if let profiled {
            if profiled !== backend {
                trainer = try makeTrainer(kind, imageSize: imageSize, channels: channels, batch: batch, backend: profiled, rng: &rng)
                for _ in 0..<warmup { try step() }
            }
            let profiler = OpProfiler()
            profiler.byNode = byNode
            trainer.trainer.profiler = profiler
            for _ in 0..<repeats { try step() }
            trainer.trainer.profiler = nil
            profile = profiler.totals.mapValues { Double($0.nanoseconds) / 1e6 / Double(profiler.steps) }
            report = profiler.report(stepMilliseconds: median, peak: peak, timing: OpProfiler.timing(on: profiled))
        }
        return Result(model: kind.rawValue, imageSize: imageSize, channels: channels, batch: batch, device: backend.name, medianMilliseconds: median,
                      samplesPerSecond: Double(batch) / (median / 1000), profile: profile, report: report)
    }

    /// A trainer of `kind` and one step on random data of the model's range.
    static func makeTrainer(_ kind: ModelKind, imageSize: Int, channels: Int, batch: Int, backend: Backend,
                            rng: inout RandomGenerator) throws -> (trainer: Trainer, step: () throws -> Void) {
        if kind == .cyclegan {
            let settings = TranslationSettings(inputChannels: channels, norm: .instance, residualBlocks: CycleGANModel.defaultBlocks(size: imageSize))
            let config = ModelConfig(kind: kind, imageChannels: channels, imageSize: imageSize, ganMode: .lsgan, translation: settings)
            let model = try CycleGANModel(config: config, rng: &rng)
            let trainer = try Trainer(model: model, backend: backend)
            let a = rng.uniform(batch * config.inputShape.reduce(1, *), in: -1...1), b = rng.uniform(batch * config.imageShape.reduce(1, *), in: -1...1)
            var pools = RandomGenerator(seed: 3)
            return (trainer, {
                let (n, feed) = try model.feed(a: a, b: b, random: &pools)
                try trainer.step(batch: n, feed: feed)
            })
        }
        if kind == .pix2pix {
            let config = ModelConfig(kind: kind, imageChannels: channels, imageSize: imageSize,
                                     translation: TranslationSettings(inputChannels: channels))
            let model = try Pix2PixModel(config: config, rng: &rng)
            let trainer = try Trainer(model: model, backend: backend)
            let (n, feed) = try model.feed(input: rng.uniform(batch * config.inputShape.reduce(1, *), in: -1...1),
                                           target: rng.uniform(batch * config.imageShape.reduce(1, *), in: -1...1))
            return (trainer, { try trainer.step(batch: n, feed: feed) })
        }
        let classes = kind == .cdcgan ? FashionMNIST.classNames : []
        let config = ModelConfig(kind: kind, imageChannels: channels, imageSize: imageSize, classNames: classes)
        let model = try GANModel(config: config, rng: &rng)
        let trainer = try Trainer(model: model, backend: backend)
        let real = rng.uniform(batch * config.imageShape.reduce(1, *), in: config.pixelRange)
        let labels = kind == .cdcgan ? (0..<batch).map { $0 % 10 } : nil
        var noise = RandomGenerator(seed: 2)
        return (trainer, {
            let (n, feed) = try model.feed(real: real, noise: noise.normal(batch * config.nz), classes: labels)
            try trainer.step(batch: n, feed: feed)
        })
    }
}
