import Atelier
import Foundation

/// Times whole training steps of a model, as `atelier train` runs them, on
/// random data (the time does not depend on the values).
enum StepBenchmark {
    struct Result: Codable {
        var model: String
        var batch: Int
        var device: String
        var medianMilliseconds: Double
        var samplesPerSecond: Double
        /// Per op kind: milliseconds per step, with --breakdown.
        var profile: [String: Double]?
    }

    static func run(_ kind: ModelKind, batch: Int, backend: Backend, warmup: Int, repeats: Int, breakdown: Bool) throws -> Result {
        var rng = RandomGenerator(seed: 1)
        let classes = kind == .cdcgan ? FashionMNIST.classNames : []
        let model = try GANModel(config: ModelConfig(kind: kind, classNames: classes), rng: &rng)
        let trainer = try GANTrainer(model: model, backend: backend)
        let real = rng.uniform(batch * 784, in: model.config.pixelRange)
        let labels = kind == .cdcgan ? (0..<batch).map { $0 % 10 } : nil
        func step() throws {
            try trainer.step(real: real, noise: rng.normal(batch * model.config.nz), classes: labels)
            _ = try trainer.statistics()  // as training does every step: read the losses
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
        if breakdown {
            let profiler = OpProfiler()
            trainer.profiler = profiler
            for _ in 0..<repeats { try step() }
            profile = profiler.totals.mapValues { Double($0.nanoseconds) / 1e6 / Double(repeats) }
        }
        return Result(model: kind.rawValue, batch: batch, device: backend.name, medianMilliseconds: median,
                      samplesPerSecond: Double(batch) / (median / 1000), profile: profile)
    }
}
