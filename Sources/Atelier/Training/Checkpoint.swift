import Foundation

/// Where training stands, saved with the weights so a run resumes exactly.
public struct TrainingState: Codable, Sendable, Equatable {
    public var model: ModelConfig
    public var optimizer: OptimizerSettings
    public var seed: UInt64
    public var batchSize: Int
    public var dropLast: Bool
    /// Epochs completed.
    public var epoch: Int
    /// Steps done in the current epoch.
    public var stepInEpoch: Int
    /// Steps done in all.
    public var step: Int
    /// The generator at the start of the current epoch (its permutation is
    /// drawn from it) and now.
    public var epochStartRandom: RandomGenerator
    public var random: RandomGenerator
    public var generatorAdamStep: Int
    public var discriminatorAdamStep: Int
}

/// A checkpoint is one safetensors file: every parameter (weights and
/// BatchNorm running statistics, under their model names), both
/// optimizers' moments, and the training state as JSON metadata. It is
/// written to a temporary file and renamed, so a crash never leaves a broken
/// checkpoint.
public enum Checkpoint {
    static let stateKey = "atelier.training_state"
    static let formatKey = "format"

    public static func save(_ trainer: GANTrainer, state: TrainingState, to path: String) throws {
        let b = trainer.backend
        var entries: [Safetensors.Entry] = []
        for (name, p) in trainer.model.namedParameters {
            entries.append(.init(name: name, shape: p.shape.dims, values: try b.read(try p.bound())))
        }
        // Adam moments per parameter (not the padded flat buffers, whose
        // layout depends on the device), as "optimizer.m.<parameter>".
        let names = Dictionary(uniqueKeysWithValues: trainer.model.namedParameters.map { (ObjectIdentifier($0.parameter), $0.name) })
        for group in [trainer.generatorGroup, trainer.discriminatorGroup] {
            for (suffix, buffer) in [("m", group.firstMoments), ("v", group.secondMoments)] {
                let flat = try b.read(buffer)
                for (p, offset) in zip(group.parameters, group.offsets) {
                    entries.append(.init(name: "optimizer.\(suffix).\(names[ObjectIdentifier(p)]!)", shape: p.shape.dims,
                                         values: Array(flat[offset..<offset + p.shape.count])))
                }
            }
        }
        let stateJSON = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        let data = try Safetensors.encode(entries, metadata: [stateKey: stateJSON, formatKey: "pt"])
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try data.write(to: temporary)
            guard rename(temporary.path, path) == 0 else { throw CheckpointError(String(cString: strerror(errno))) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw CheckpointError("cannot write checkpoint \(path): \(error)")
        }
    }

    /// The state and tensors of a checkpoint file.
    public static func read(_ path: String) throws -> (state: TrainingState, tensors: [String: Safetensors.Entry]) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError("no checkpoint at \(path)")
        }
        let (entries, metadata) = try Safetensors.decode(try Data(contentsOf: URL(fileURLWithPath: path)), source: path)
        guard let json = metadata[stateKey] else {
            throw CheckpointError("\(path) is a safetensors file but not an Atelier checkpoint (no training state in its metadata)")
        }
        do {
            return (try JSONDecoder().decode(TrainingState.self, from: Data(json.utf8)), entries)
        } catch {
            throw CheckpointError("\(path) has an unreadable training state: \(error)")
        }
    }

    /// Loads weights, running statistics and optimizer state into `trainer`,
    /// which must have been built from the same model config.
    public static func restore(_ trainer: GANTrainer, from tensors: [String: Safetensors.Entry], path: String) throws {
        let b = trainer.backend
        for (name, p) in trainer.model.namedParameters {
            guard let e = tensors[name] else {
                throw CheckpointError("\(path) has no tensor \(name): it was written for another model")
            }
            guard e.shape == p.shape.dims else {
                throw CheckpointError("\(path): \(name) has shape \(e.shape) but the model needs \(p.shape.dims): it was written for another model")
            }
            try b.write(e.values, to: try p.bound())
        }
        let names = Dictionary(uniqueKeysWithValues: trainer.model.namedParameters.map { (ObjectIdentifier($0.parameter), $0.name) })
        for group in [trainer.generatorGroup, trainer.discriminatorGroup] {
            for (suffix, buffer) in [("m", group.firstMoments), ("v", group.secondMoments)] {
                var flat = [Float](repeating: 0, count: buffer.count)
                for (p, offset) in zip(group.parameters, group.offsets) {
                    let name = "optimizer.\(suffix).\(names[ObjectIdentifier(p)]!)"
                    guard let e = tensors[name], e.values.count == p.shape.count else {
                        throw CheckpointError("\(path): optimizer state \(name) is missing or of another size")
                    }
                    flat.replaceSubrange(offset..<offset + p.shape.count, with: e.values)
                }
                try b.write(flat, to: buffer)
            }
        }
    }
}
