-- wrk script for the FastAPI row: POST /add with a small JSON body.
wrk.method = "POST"
wrk.body = '{"first_number": 2, "second_number": 3}'
wrk.headers["Content-Type"] = "application/json"
