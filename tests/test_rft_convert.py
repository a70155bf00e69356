"""`vcr rft convert` reads the official releases: Charades-STA text, ActivityNet Captions JSON, NExT-GQA CSV
(with gsub/map beside it) and GOT-10k folders, as well as VideoChat-R1's JSON copies."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from vcr_cli.app import app

runner = CliRunner()


def _convert(*args) -> tuple[int, list[dict], str]:
    result = runner.invoke(app, ["rft", "convert", *map(str, args), "-o", "-"])
    lines = [json.loads(x) for x in result.stdout.splitlines()] if result.exit_code == 0 else []
    return result.exit_code, lines, result.output


def test_charades_sta_text_as_released(tmp_path):
    src = tmp_path / "charades_sta_train.txt"
    src.write_text("AO8RW 0.0 6.9##a person is putting a book on a shelf.\n"
                   "Y6R7T 13.2 20.0##person opens the door\n\n")
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "Y6R7T.mkv").write_bytes(b"")  # matched to the file present
    code, lines, output = _convert("--from", "charades", src, "--video-root", videos)
    assert code == 0, output
    assert lines == [
        {"task": "ground", "video": f"{videos}/AO8RW.mp4", "query": "a person is putting a book on a shelf.",
         "solution": {"start": 0.0, "end": 6.9}},
        {"task": "ground", "video": f"{videos}/Y6R7T.mkv", "query": "person opens the door",
         "solution": {"start": 13.2, "end": 20.0}}]
    src.write_text("AO8RW 0.0 6.9##fine\nAO8RW zero 6.9##bad start\n")
    code, _, output = _convert("--from", "charades", src)
    assert code == 2 and f"{src}:2: expected `VIDEO START END##sentence`" in output


def test_activitynet_captions_json(tmp_path):
    src = tmp_path / "val_1.json"
    src.write_text(json.dumps({"v_QOlSCBRmfWY": {"duration": 82.73, "timestamps": [[0.83, 19.86], [17.37, 60.81]],
                                                 "sentences": [" A young woman is seen.", "She dances."]}}))
    videos = tmp_path / "v"
    videos.mkdir()
    (videos / "QOlSCBRmfWY.webm").write_bytes(b"")  # some downloads drop the v_ prefix
    code, lines, output = _convert("--from", "activitynet", src, "--video-root", videos)
    assert code == 0, output
    assert [(x["video"], x["query"], x["solution"]) for x in lines] == [
        (f"{videos}/QOlSCBRmfWY.webm", "A young woman is seen.", {"start": 0.83, "end": 19.86}),
        (f"{videos}/QOlSCBRmfWY.webm", "She dances.", {"start": 17.37, "end": 60.81})]


def test_nextgqa_csv_with_spans_and_video_map(tmp_path):
    folder = tmp_path / "nextgqa"
    folder.mkdir()
    (folder / "val.csv").write_text(
        "video_id,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
        "4882821564,2701,640,480,why did the boy pick up one present,unwrap it,1,CW,"
        "share with the girl,approach lady sitting there,unwrap it,playing with toy train,gesture something\n"
        "4882821564,2701,640,480,what did the boy do after,3,5,TN,a,b,c,d,e\n")
    (folder / "gsub_val.json").write_text(json.dumps({"4882821564": {"duration": 90, "fps": 29.97,
                                                                     "location": {"1": [[13.8, 29.8]]}}}))
    (folder / "map_vid_vidorID.json").write_text(json.dumps({"4882821564": "1104/4882821564"}))
    code, lines, output = _convert("--from", "nextgqa", folder / "val.csv", "--video-root", "/data/NExTVideo")
    assert code == 0, output
    assert lines == [
        {"task": "qa", "video": "/data/NExTVideo/1104/4882821564.mp4",
         "question": "why did the boy pick up one present",
         "options": ["share with the girl", "approach lady sitting there", "unwrap it", "playing with toy train",
                     "gesture something"], "solution": {"answer": "C", "evidence": [[13.8, 29.8]]}},
        {"task": "qa", "video": "/data/NExTVideo/1104/4882821564.mp4", "question": "what did the boy do after",
         "options": ["a", "b", "c", "d", "e"], "solution": {"answer": "D"}}]  # no span for qid 5
    (folder / "bad.csv").write_text("video,question\nx,y\n")
    code, _, output = _convert("--from", "nextgqa", folder / "bad.csv")
    assert code == 2 and "not a NExT-GQA CSV: no column video_id" in output


def _sequence(folder, name, boxes, object_class="sloth", size=(200, 100)):
    seq = folder / name
    seq.mkdir(parents=True)
    for i in range(len(boxes)):
        Image.new("RGB", size).save(seq / f"{i + 1:08d}.jpg")
    (seq / "groundtruth.txt").write_text("".join(",".join(f"{v:.4f}" for v in b) + "\n" for b in boxes))
    (seq / "meta_info.ini").write_text(f"[METAINFO]\nurl: x\nanno_fps: 10Hz\nobject_class: {object_class}\n"
                                       "motion_class: walking\nresolution: (200, 100)\n")
    return seq


def test_got10k_folders_as_released(tmp_path, monkeypatch):
    split = tmp_path / "GOT-10k" / "val"
    boxes = [[10.0 * i, 5.0, 20.0, 10.0] for i in range(13)]  # x moves 10 px a frame; 200x100 frames
    _sequence(split, "GOT-10k_Val_000001", boxes)
    _sequence(split, "GOT-10k_Val_000002", boxes[:7], object_class="motorcycle wheel")
    (split / "list.txt").write_text("GOT-10k_Val_000002\nGOT-10k_Val_000001\n")
    code, lines, output = _convert("--from", "got10k", split)
    assert code == 0, output
    assert [(x["video"], x["object"]) for x in lines] == [(f"{split}/GOT-10k_Val_000002", "motorcycle wheel"),
                                                          (f"{split}/GOT-10k_Val_000001", "sloth")]
    # 13 frames: the 7 tracking frames are 0, 2, 4, 6, 8, 10, 12; laid out as VideoChat-R1's data (gt[0] the start
    # box, gt[1] nearly the same): the start box, then fed frame k-1 for box k -- the table `vcr track` reads by
    assert lines[1]["solution"]["boxes"] == [[x0, 0.05, round(x0 + 0.1, 3), 0.15] for x0 in
                                             (0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)]
    assert lines[0]["solution"]["boxes"][0] == [0.0, 0.05, 0.1, 0.15] and len(lines[0]["solution"]["boxes"]) == 8

    code, one, output = _convert("--from", "got10k", split / "GOT-10k_Val_000001")  # one sequence folder
    assert code == 0 and one == [lines[1]]

    out = tmp_path / "data" / "track.jsonl"
    out.parent.mkdir()
    monkeypatch.chdir(tmp_path)  # a relative folder is written relative to the output file
    result = runner.invoke(app, ["rft", "convert", "--from", "got10k", "GOT-10k/val", "-o", "data/track.jsonl"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text().splitlines()[0])["video"] == "../GOT-10k/val/GOT-10k_Val_000002"
    check = runner.invoke(app, ["rft", "validate", str(out)])  # the frame folders resolve from the data file
    assert check.exit_code == 0, check.output

    test = _sequence(tmp_path / "test", "GOT-10k_Test_000001", boxes[:1] + [], size=(200, 100))
    Image.new("RGB", (200, 100)).save(test / "00000002.jpg")
    code, _, output = _convert("--from", "got10k", test)
    assert code == 2 and "1 boxes for 2 frames (GOT-10k test sequences give only the first box" in output
