import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// Where training stands, saved with the weights so a run resumes exactly.
public struct TrainingState: Codable, Sendable, Equatable {
    /// The architecture, enough to rebuild the networks.
    public var model: ModelConfig
    /// Each parameter group's optimizer, schedule and Adam step count.
    public var groups: [GroupState]
    /// The run's seed.
    public var seed: UInt64
    /// The batch size the run trains with.
    public var batchSize: Int
    /// Whether each epoch's last, smaller batch is left out.
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

    /// A parameter group's settings and how many Adam steps it has taken.
    public struct GroupState: Codable, Sendable, Equatable {
        /// The group's networks, optimizer and schedule.
        public var spec: ParameterGroupSpec
        /// Adam steps taken (t in the bias correction).
        public var adamStep: Int
        /// A group's state.
        public init(spec: ParameterGroupSpec, adamStep: Int) {
            self.spec = spec
            self.adamStep = adamStep
        }
    }

    /// A state; a new run starts at epoch 0, step 0.
    public init(model: ModelConfig, groups: [GroupState], seed: UInt64, batchSize: Int, dropLast: Bool, epoch: Int,
                stepInEpoch: Int, step: Int, epochStartRandom: RandomGenerator, random: RandomGenerator) {
        self.model = model
        self.groups = groups
        self.seed = seed
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.step = step
        self.epochStartRandom = epochStartRandom
        self.random = random
    }

    private enum CodingKeys: String, CodingKey {
        case model, groups, seed, batchSize, dropLast, epoch, stepInEpoch, step, epochStartRandom, random
        // The two-group layout of earlier releases.
        case optimizer, generatorAdamStep, discriminatorAdamStep
    }

    /// Reads the state, including the two-group layout of earlier releases.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelConfig.self, forKey: .model)
        if let groups = try c.decodeIfPresent([GroupState].self, forKey: .groups) {
            self.groups = groups
        } else {
            // Checkpoints of earlier releases: a GAN's two groups, constant rate.
            let optimizer = try c.decode(OptimizerSettings.self, forKey: .optimizer)
            groups = [GroupState(spec: ParameterGroupSpec(name: "discriminator", networks: ["discriminator"], optimizer: optimizer),
                                 adamStep: try c.decode(Int.self, forKey: .discriminatorAdamStep)),
                      GroupState(spec: ParameterGroupSpec(name: "generator", networks: ["generator"], optimizer: optimizer),
                                 adamStep: try c.decode(Int.self, forKey: .generatorAdamStep))]
        }
        seed = try c.decode(UInt64.self, forKey: .seed)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        dropLast = try c.decode(Bool.self, forKey: .dropLast)
        epoch = try c.decode(Int.self, forKey: .epoch)
        stepInEpoch = try c.decode(Int.self, forKey: .stepInEpoch)
        step = try c.decode(Int.self, forKey: .step)
        epochStartRandom = try c.decode(RandomGenerator.self, forKey: .epochStartRandom)
        random = try c.decode(RandomGenerator.self, forKey: .random)
    }

    /// Writes the state (the current layout).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(groups, forKey: .groups)
        try c.encode(seed, forKey: .seed)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(dropLast, forKey: .dropLast)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(stepInEpoch, forKey: .stepInEpoch)
        try c.encode(step, forKey: .step)
        try c.encode(epochStartRandom, forKey: .epochStartRandom)
        try c.encode(random, forKey: .random)
    }

    /// The groups as the trainer has them now.
    public mutating func update(from trainer: Trainer) {
        groups = trainer.groupSpecs.map { GroupState(spec: $0, adamStep: trainer.groups[$0.name]!.step) }
    }
}

/// A checkpoint is one safetensors file: every parameter (weights and
/// BatchNorm running statistics, under their model names), every group's
/// Adam moments ("optimizer.m.<parameter>", "optimizer.v.<parameter>"), the
/// model's extra state ("state.<name>"), and the training state as JSON
/// metadata. It is written to a temporary file and renamed, so a crash never
/// leaves a broken checkpoint.
public enum Checkpoint {
    static let stateKey = "atelier.training_state"
    static let formatKey = "format"
    static let extraPrefix = "state."

    /// Writes the trainer's weights, optimizer state and extra state with `state`
    /// to `path`, through a temporary file and a rename.
    public static func save(_ trainer: Trainer, state: TrainingState, to path: String) throws {
        let b = trainer.backend
        var entries: [Safetensors.Entry] = []
        let named = trainer.model.namedParameters
        for (name, p) in named {
            entries.append(.init(name: name, shape: p.shape.dims, values: try b.read(try p.bound())))
        }
        // Adam moments per parameter (not the padded flat buffers, whose
        // layout depends on the device).
        let names = Dictionary(uniqueKeysWithValues: named.map { (ObjectIdentifier($0.parameter), $0.name) })
        for spec in trainer.groupSpecs {
            let group = trainer.groups[spec.name]!
            for (suffix, buffer) in [("m", group.firstMoments), ("v", group.secondMoments)] {
                let flat = try b.read(buffer)
                for (p, offset) in zip(group.parameters, group.offsets) {
                    entries.append(.init(name: "optimizer.\(suffix).\(names[ObjectIdentifier(p)]!)", shape: p.shape.dims,
                                         values: Array(flat[offset..<offset + p.shape.count])))
                }
            }
        }
        for (name, values) in trainer.model.extraState().sorted(by: { $0.key < $1.key }) {
            entries.append(.init(name: extraPrefix + name, shape: [values.count], values: values))
        }
        var state = state
        state.update(from: trainer)
        // Keys in order: the same state gives the same bytes.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let stateJSON = String(decoding: try encoder.encode(state), as: UTF8.self)
        let data = try Safetensors.encode(entries, metadata: [stateKey: stateJSON, formatKey: "pt"])
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        do {
            try TemporaryFile.write(data, to: url)
        } catch {
            throw CheckpointError("cannot write checkpoint \(path): \(error)")
        }
    }

    /// The state and tensors of a checkpoint file.
    public static func read(_ path: String) throws -> (state: TrainingState, tensors: [String: Safetensors.Entry]) {
        var folder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &folder) else {
            throw CheckpointError("no checkpoint at \(path)")
        }
        if folder.boolValue {
            let inside = URL(fileURLWithPath: path).appendingPathComponent("checkpoint.safetensors").path
            throw CheckpointError("\(path) is a folder, not a checkpoint"
                + (FileManager.default.fileExists(atPath: inside) ? "; pass \(inside)" : "; pass the checkpoint.safetensors a run wrote"))
        }
        let contents: Data
        do {
            contents = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CheckpointError("cannot read \(path): \(FileErrorText.reason(error))")
        }
        let (entries, metadata) = try Safetensors.decode(contents, source: path)
        guard let json = metadata[stateKey] else {
            throw CheckpointError("\(path) is a safetensors file but not an Atelier checkpoint (no training state in its metadata)")
        }
        let state: TrainingState
        do {
            state = try JSONDecoder().decode(TrainingState.self, from: Data(json.utf8))
        } catch {
            throw CheckpointError("\(path) has an unreadable training state: \(error)")
        }
        try state.validate(path: path)
        return (state, entries)
    }

    /// Loads the weights and running statistics of `model` (on a backend
    /// already: a Trainer or placed parameters), which must have been built
    /// from the same config.
    public static func restoreWeights(_ model: TrainingModel, on b: Backend, from tensors: [String: Safetensors.Entry], path: String) throws {
        for (name, p) in model.namedParameters {
            guard let e = tensors[name] else {
                throw CheckpointError("\(path) has no tensor \(name): it was written for another model")
            }
            guard e.shape == p.shape.dims else {
                throw CheckpointError("\(path): \(name) has shape \(e.shape) but the model needs \(p.shape.dims): it was written for another model")
            }
            // NaN weights once made `sample` write an all-white sheet without a word.
            if let bad = e.values.first(where: { !$0.isFinite }) {
                throw CheckpointError("\(path): \(name) holds \(bad) values (training diverged before it was saved, or the file is damaged); use an earlier checkpoint")
            }
            try b.write(e.values, to: try p.bound())
        }
    }

    /// Loads weights, running statistics, every group's optimizer state and
    /// settings, and the model's extra state into `trainer`.
    public static func restore(_ trainer: Trainer, state: TrainingState, from tensors: [String: Safetensors.Entry], path: String) throws {
        let b = trainer.backend
        try restoreWeights(trainer.model, on: b, from: tensors, path: path)
        try trainer.setGroupSpecs(state.groups.map(\.spec))
        let names = Dictionary(uniqueKeysWithValues: trainer.model.namedParameters.map { (ObjectIdentifier($0.parameter), $0.name) })
        for saved in state.groups {
            let group = trainer.groups[saved.spec.name]!
            group.setStep(saved.adamStep)
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
        var extra: [String: [Float]] = [:]
        for (name, entry) in tensors where name.hasPrefix(extraPrefix) { extra[String(name.dropFirst(extraPrefix.count))] = entry.values }
        try trainer.model.restoreExtraState(extra)
    }
}

extension TrainingState {
    /// Refuses a state no run writes (a damaged or hand-edited checkpoint)
    /// by what is wrong in it, before anything divides by its batch size or
    /// builds a network from its figures.
    func validate(path: String) throws {
        func corrupt(_ what: String) -> CheckpointError {
            CheckpointError("\(path) is damaged: its training state says \(what); use another checkpoint or start a new run")
        }
        guard batchSize >= 1 else { throw corrupt("batch size \(batchSize)") }
        guard epoch >= 0, stepInEpoch >= 0, step >= 0 else { throw corrupt("epoch \(epoch), step \(step) (\(stepInEpoch) in the epoch)") }
        guard (1...10_000).contains(model.nz) || model.kind.isTranslation else { throw corrupt("a noise size (nz) of \(model.nz)") }
        guard (1...1024).contains(model.ngf), (1...1024).contains(model.ndf) else {
            throw corrupt("network widths ngf \(model.ngf), ndf \(model.ndf)")
        }
        guard [1, 3].contains(model.imageChannels) else { throw corrupt("\(model.imageChannels) image channels") }
        guard !model.isConditional || model.classes >= 2 else {
            throw corrupt("a \(model.kind) model, conditioned on classes, with \(model.classes) classes")
        }
        guard ModelConfig.supportedSizes(model.kind).contains(model.imageSize) else {
            throw corrupt("\(model.imageSize) px images for \(model.kind)")
        }
    }
}
