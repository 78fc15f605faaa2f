import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// Weights without the training state, named as PyTorch names them (see
/// PyTorchNames): what `atelier export` writes, and what `train
/// --init-from` and `sample --weights` read, whether Atelier or PyTorch
/// wrote it. One network's file holds its state_dict keys as they are;
/// a file of several networks puts "<network>." before each.
public enum WeightsFile {
    /// Metadata of an exported file: the model it was built for, its
    /// networks, and the PyTorch module of each (for the reader).
    static let modelKey = "atelier.model", networksKey = "atelier.networks", modulePrefix = "pytorch_module."

    /// What `export` wrote.
    public struct Export: Sendable {
        /// The networks, in the file's order.
        public var networks: [String]
        /// Tensors written, BatchNorm counters included.
        public var tensors: Int
        /// The file's size.
        public var bytes: Int
        /// The PyTorch module each network loads into.
        public var modules: [String]
    }

    /// Writes the weights of `networks` (nil: the one that makes pictures)
    /// of the checkpoint at `checkpoint` to `out` in `dtype`, with PyTorch's
    /// names and BatchNorm counters (the steps the network was trained).
    public static func export(checkpoint: String, networks: [String]?, dtype: Safetensors.DType, to out: String) throws -> Export {
        guard dtype.isFloat else { throw CheckpointError("weights are written as F32, F16, BF16 or F64, not \(dtype.rawValue)") }
        let (state, tensors) = try Checkpoint.read(checkpoint)
        let names = PyTorchNames(state.model)
        let chosen = networks ?? [names.pictureNetwork]
        for network in chosen where !names.networks.contains(network) {
            throw CheckpointError("\(checkpoint) holds a \(state.model.kind) model, which has no network \(network); it has \(names.networks.joined(separator: ", "))")
        }
        var entries: [Safetensors.Entry] = []
        for network in chosen {
            let prefix = chosen.count == 1 ? "" : network + "."
            let owned = tensors.sorted(by: { $0.key < $1.key }).compactMap { name, entry in
                names.pytorchName(name).flatMap { $0.network == network ? (key: $0.key, entry: entry) : nil }
            }
            let keys = PyTorchNames.spectralNormNames(owned.map(\.key))
            for (key, (_, entry)) in zip(keys, owned) {
                entries.append(.init(name: prefix + key, shape: entry.shape, values: entry.values, dtype: dtype))
            }
            guard !keys.isEmpty else { throw CheckpointError("\(checkpoint) holds no weights of \(network): it is damaged") }
            let steps = Float(state.groups.first { $0.spec.networks.contains(network) }?.adamStep ?? state.step)
            for counter in PyTorchNames.batchCounters(keys) {
                entries.append(.init(name: prefix + counter, shape: [], values: [steps], dtype: .i64))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var metadata = ["format": "pt", modelKey: String(decoding: try encoder.encode(state.model), as: UTF8.self),
                        networksKey: chosen.joined(separator: ",")]
        for network in chosen { metadata[modulePrefix + network] = names.module(network) }
        let data = try Safetensors.encode(entries, metadata: metadata)
        do {
            try TemporaryFile.write(data, to: URL(fileURLWithPath: out))
        } catch {
            throw CheckpointError("cannot write \(out): \(FileErrorText.reason(error))")
        }
        return Export(networks: chosen, tensors: entries.count, bytes: data.count, modules: chosen.map(names.module))
    }

    /// A weights file's tensors, and the model it records (Atelier's
    /// exports do; a file saved from PyTorch does not).
    public static func read(_ path: String) throws -> (tensors: [String: Safetensors.Entry], model: ModelConfig?, networks: [String]?) {
        var folder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &folder), !folder.boolValue else {
            throw CheckpointError("no weights file at \(path)")
        }
        let contents: Data
        do { contents = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CheckpointError("cannot read \(path): \(FileErrorText.reason(error))")
        }
        let (tensors, metadata) = try Safetensors.decode(contents, source: path)
        var model: ModelConfig?
        if let json = metadata[modelKey] ?? metadata[Checkpoint.stateKey] {
            if metadata[modelKey] != nil {
                model = try? JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
            } else {
                model = (try? JSONDecoder().decode(TrainingState.self, from: Data(json.utf8)))?.model
            }
            guard model != nil else { throw CheckpointError("\(path) records a model that this Atelier cannot read") }
        }
        return (tensors, model, metadata[networksKey].map { $0.split(separator: ",").map(String.init) })
    }

    /// The networks a file given without a network name is for: those its
    /// "<network>." prefixes name, else the one it records, else the one
    /// that makes pictures.
    public static func networks(in tensors: [String: Safetensors.Entry], recorded: [String]?, config: ModelConfig) -> [String] {
        let names = PyTorchNames(config)
        let prefixed = names.networks.filter { n in tensors.keys.contains { $0.hasPrefix(n + ".") } }
        if !prefixed.isEmpty { return prefixed }
        if let recorded, recorded.count == 1 { return recorded }
        return [names.pictureNetwork]
    }

    /// Loads weights into `networks` of `model` (placed on `backend`) from
    /// `tensors` (read from `path`), as PyTorch's strict load would: every
    /// tensor the network needs, of its shape, and nothing else but
    /// BatchNorm's integer counters, which Atelier does not keep. Floats of
    /// other widths are converted. Returns what the user should know.
    public static func load(_ tensors: [String: Safetensors.Entry], path: String, into model: TrainingModel, config: ModelConfig,
                            networks: [String], on backend: Backend) throws -> [String] {
        let names = PyTorchNames(config)
        let several = networks.count > 1 || tensors.keys.contains { key in names.networks.contains { key.hasPrefix($0 + ".") } }
        var used = Set<String>()
        var notes: [String] = []
        var converted = Set<String>()
        for network in networks {
            guard names.networks.contains(network) else {
                throw CheckpointError("the \(config.kind) model has no network \(network); it has \(names.networks.joined(separator: ", "))")
            }
            let prefix = several ? network + "." : ""
            // Names first (they tell an architecture apart), then shapes and values.
            let owned = model.namedParameters.compactMap { name, parameter in
                names.pytorchName(name).flatMap { $0.network == network ? (key: $0.key, parameter: parameter) : nil }
            }
            let wanted = zip(PyTorchNames.spectralNormNames(owned.map(\.key)), owned).map { (key: prefix + $0, parameter: $1.parameter) }
            let missing = wanted.map(\.key).filter { tensors[$0] == nil }
            if !missing.isEmpty {
                let shown = missing.prefix(4).joined(separator: ", ") + (missing.count > 4 ? " and \(missing.count - 4) more" : "")
                let present = tensors.keys.sorted().prefix(3).joined(separator: ", ")
                throw CheckpointError("\(path) lacks \(shown) of \(network) (a \(names.module(network))); it holds \(present)\(tensors.count > 3 ? ", ..." : ""): "
                    + (several ? "" : "pass NETWORK=\(path) if these are another network's weights, or ") + "export them for this model")
            }
            for (key, parameter) in wanted {
                let entry = tensors[key]!
                used.insert(key)
                guard entry.dtype.isFloat else {
                    throw CheckpointError("\(path): \(key) holds \(entry.dtype.rawValue) integers, not weights")
                }
                guard entry.shape == parameter.shape.dims else {
                    throw CheckpointError("\(path): \(key) has shape \(entry.shape) but \(network) needs \(parameter.shape.dims): the file is for another architecture or size (\(network) is a \(names.module(network)))")
                }
                if let bad = entry.values.first(where: { !$0.isFinite }) {
                    throw CheckpointError("\(path): \(key) holds \(bad) values; use weights saved before training diverged")
                }
                if entry.dtype != .f32 { converted.insert(entry.dtype.rawValue) }
                try backend.write(entry.values, to: try parameter.bound())
            }
            let loaded = wanted.count
            notes.append("\(network): \(loaded) tensors from \(path)")
        }
        // Another network's tensors in a file of several are not this load's concern.
        let leftover = tensors.filter { entry in
            !used.contains(entry.key) && (!several || networks.contains { entry.key.hasPrefix($0 + ".") })
        }
        let counters = leftover.filter { !$0.value.dtype.isFloat && $0.key.hasSuffix("num_batches_tracked") }
        let unexpected = leftover.keys.filter { counters[$0] == nil }.sorted()
        guard unexpected.isEmpty else {
            throw CheckpointError("\(path) holds \(unexpected.prefix(4).joined(separator: ", "))\(unexpected.count > 4 ? " and \(unexpected.count - 4) more" : "") that \(networks.joined(separator: " and ")) of a \(config.kind) model lack: it was saved from another architecture")
        }
        if !counters.isEmpty { notes.append("ignored \(counters.count) BatchNorm num_batches_tracked counter\(counters.count == 1 ? "" : "s") (Atelier keeps none)") }
        if !converted.isEmpty { notes.append("converted \(converted.sorted().joined(separator: ", ")) values to F32") }
        return notes
    }
}
